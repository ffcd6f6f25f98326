"""A save that makes an adverse event serious (the item the study names AESER turns to "yes")
writes to the study's pharmacovigilance and the investigators of the subject's site, once, in
their language, without a value of the form; the worker e-mails it after the commit, and
nothing is written by a save that rolls back or leaves the event serious."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core import mail
from django.core.management import call_command
from django.db.models import QuerySet
from django.test import Client
from django.urls import reverse

from carnet.accounts.models import User
from carnet.accounts.roles import Role
from carnet.capture import seams
from carnet.capture.seams import WriteContext
from carnet.capture.services import SaveOutcome, form_save
from carnet.messaging.models import Message
from carnet.studies.definition import study_file_read
from carnet.studies.services import study_load, study_mode_change, study_publish
from carnet.subjects.models import Subject
from tests.accounts.personas import ADMIN, FIXTURE, person, world
from tests.capture.conftest import include
from tests.web.helpers import PASSWORD, enrol

pytestmark = pytest.mark.django_db

# MINI amended with an adverse event form whose seriousness item is declared as SDTM's AESER
# under a name of the study's own choosing.
AE_FORM = """forms:
  - name: adverse_event
    label: {en: Adverse event, fr: Événement indésirable}
    repeating: true
    groups:
      - name: ae
        items:
          - {name: ae_term, type: text, label: {en: Term, fr: Terme}}
          - name: grave
            sas_name: AESER
            type: single_choice
            code_list: yes_no
            label: {en: Serious, fr: Grave}
          - name: ae_ongoing
            sas_name: AEONGO
            type: single_choice
            code_list: yes_no
            label: {en: Ongoing, fr: En cours}
"""
TERM = "Febrile neutropenia"  # a value: no message may show it
FORM_PATH = "/studies/MINI/subjects/01-001/forms/adverse_events/1/adverse_event/?repeat=1"


@dataclass
class Cast:
    subject: Subject
    entry: User  # site data entry at site A: saves the form
    investigator: User  # investigator at site A, reads French
    investigator_b: User  # investigator at site B: not the subject's site
    vigilance: User  # pharmacovigilance officer of the study (all sites)
    monitor: User  # monitor of site A: not told


def _with_address(user: User, language: str = "") -> User:
    user.email = f"{user.username}@icm.example.org"
    user.language = language
    user.save(update_fields=["email", "language"])
    return user


@pytest.fixture
def cast(tmp_path: Path) -> Cast:
    w = world()
    text = FIXTURE.read_text(encoding="utf-8")
    for old, new in (
        ("    forms: [lesions]\n", "    forms: [lesions, adverse_event]\n"),
        ("forms:\n  - name: vitals\n", AE_FORM + "  - name: vitals\n"),
    ):
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    amended = tmp_path / "mini.yaml"
    amended.write_text(text, encoding="utf-8")
    study_load(actor=ADMIN, study_file=study_file_read(amended), source_name="mini.yaml")
    study_publish(actor=ADMIN, study=w.study)
    study_mode_change(actor=ADMIN, study=w.study, mode="production")
    w.study.refresh_from_db()
    entry = _with_address(person("julie", study=w.study, role=Role.DATA_ENTRY, sites=[w.site_a]))
    return Cast(
        subject=include(w, entry),
        entry=entry,
        investigator=_with_address(
            person("pierre", study=w.study, role=Role.INVESTIGATOR, sites=[w.site_a]), "fr"
        ),
        investigator_b=_with_address(
            person("paul", study=w.study, role=Role.INVESTIGATOR, sites=[w.site_b])
        ),
        vigilance=_with_address(person("vera", study=w.study, role=Role.PHARMACOVIGILANCE)),
        monitor=_with_address(person("sophie", study=w.study, role=Role.MONITOR, sites=[w.site_a])),
    )


def save_ae(cast: Cast, base: int | None, **values: Any) -> SaveOutcome:
    return form_save(
        actor=cast.entry,
        subject=cast.subject,
        event="adverse_events",
        form="adverse_event",
        base_version=base,
        values=values,
    )


def worker() -> None:
    call_command("worker", "--once", stdout=io.StringIO())


def alerts() -> QuerySet[Message]:
    """Return the messages about a serious event (the worker's periodic jobs, such as the
    overdue digest, may write others: they carry a key)."""
    return Message.objects.filter(key__isnull=True)


def alerts_mailed() -> list[Any]:
    return [m for m in mail.outbox if "serious adverse event" in m.subject or "grave" in m.subject]


def recipients() -> list[str]:
    return sorted(alerts().values_list("recipient__username", flat=True))


def test_a_save_that_makes_an_event_serious_writes_once_to_vigilance_and_the_sites_investigators(
    cast: Cast, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        first = save_ae(cast, None, ae_term=TERM, grave=0, ae_ongoing=1)
    assert recipients() == []  # not serious

    with django_capture_on_commit_callbacks(execute=True):
        second = save_ae(cast, first.form_instance.version, grave=1)
    assert recipients() == ["pierre", "vera"]

    with django_capture_on_commit_callbacks(execute=True):
        save_ae(cast, second.form_instance.version, ae_ongoing=0)  # still serious
    assert recipients() == ["pierre", "vera"]

    english = alerts().get(recipient=cast.vigilance)
    assert english.language == "en"
    assert english.subject == "MINI: serious adverse event, subject 01-001"
    assert english.body.splitlines()[:5] == [
        "An adverse event of subject 01-001 in study MINI was recorded as serious.",
        "",
        "Event: Adverse events",
        "Form: Adverse event",
        f"Open the form: {settings.CARNET_SITE_URL}{FORM_PATH}",
    ]
    french = alerts().get(recipient=cast.investigator)
    assert french.language == "fr"
    assert french.subject == "MINI : événement indésirable grave, patient 01-001"
    assert "Formulaire : Événement indésirable" in french.body
    for message in (english, french):
        assert TERM not in message.body
        assert TERM not in message.subject
        assert "Yes" not in message.body
        assert "Oui" not in message.body


def test_the_worker_emails_it_and_it_shows_in_my_messages_of_the_recipient_only(
    cast: Cast, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        save_ae(cast, None, ae_term=TERM, grave=1)
    worker()

    assert sorted(m.to[0] for m in alerts_mailed()) == [
        "pierre@icm.example.org",
        "vera@icm.example.org",
    ]
    assert all(TERM not in m.body for m in alerts_mailed())
    assert alerts().filter(sent_at__isnull=False).count() == 2
    worker()
    assert len(alerts_mailed()) == 2  # sent once

    for user, shown in (
        (cast.vigilance, True),
        (cast.investigator, True),
        (cast.investigator_b, False),
        (cast.monitor, False),
        (cast.entry, False),
    ):
        client = Client()
        client.post("/login/", {"username": user.username, "password": PASSWORD})
        if client.get("/account/").status_code == 302:  # a role that needs a second factor
            enrol(client)
        answer = client.get(reverse("messaging:messages"))
        assert answer.status_code == 200, user.username
        page = answer.content.decode()
        assert ("01-001" in page) is shown, user.username


@pytest.fixture
def failing_listener() -> Iterator[None]:
    """A listener after the others that fails: the save rolls back whole."""

    def fail(context: WriteContext) -> None:
        raise RuntimeError("listener failed")

    seams.SAVE_LISTENERS.append(fail)
    yield
    seams.SAVE_LISTENERS.remove(fail)


def test_a_save_that_rolls_back_writes_and_sends_nothing(
    cast: Cast, failing_listener: None, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError):
        save_ae(cast, None, ae_term=TERM, grave=1)
    worker()
    assert not alerts().exists()
    assert alerts_mailed() == []


def test_a_form_without_an_aeser_item_sends_nothing(
    cast: Cast, django_capture_on_commit_callbacks: Any
) -> None:
    # ae_ongoing is a yes/no item too, declared AEONGO: its "yes" is no serious event.
    with django_capture_on_commit_callbacks(execute=True):
        save_ae(cast, None, ae_term=TERM, ae_ongoing=1)
    assert not alerts().exists()
