"""A form that cannot be changed looks it and says why; a refused stale save keeps what was typed
and names the other person's changes by their item labels, with the site's local time."""

from __future__ import annotations

import html as entities
import re
from datetime import UTC, date, datetime

import pytest
import time_machine
from django.test import Client

from carnet.accounts.models import User
from carnet.accounts.roles import Role
from carnet.capture.models import ItemValue
from carnet.capture.services import form_mark_not_done, form_save
from carnet.studies.services import study_mode_change
from carnet.subjects.services import consent_withdraw
from tests.accounts.personas import ADMIN, person
from tests.capture.conftest import Capture
from tests.capture.test_pages import VITALS, client_of, stored, vitals

pytestmark = pytest.mark.django_db

LESIONS = "/studies/MINI/subjects/01-001/forms/baseline/1/lesions/"


def capture_form(html: str) -> str:
    match = re.search(r'<form id="capture-form".*?</form>', html, re.S)
    assert match, "the form is on the page"
    return match.group(0)


def editable_controls(html: str) -> list[str]:
    """Return the controls of the capture form a person could still change or submit."""
    controls = re.findall(r"<(?:input|select|textarea|button)\b[^>]*>", capture_form(html))
    return [
        control
        for control in controls
        if 'type="hidden"' not in control and not re.search(r"\sdisabled[\s>]", control)
    ]


def read_only_reason(html: str) -> str:
    match = re.search(r'<p [^>]*id="read-only"[^>]*>(.*?)</p>', html, re.S)
    assert match, "the page says why the form is read-only"
    return entities.unescape(re.sub(r"<[^>]+>", "", match.group(1))).strip()


def french(client: Client) -> Client:
    client.post("/language/", {"language": "fr", "next": "/"})
    return client


def save_vitals(capture: Capture, user: User | None = None, **values: object) -> None:
    form_save(
        actor=user or capture.entry,
        subject=capture.subject,
        event="baseline",
        form="vitals",
        base_version=None if not ItemValue.objects.exists() else _version(),
        values=values,
    )


def _version() -> int:
    from carnet.capture.models import FormInstance

    return FormInstance.objects.get(form="vitals").version


@pytest.mark.parametrize(
    ("mode", "english", "french_words"),
    [
        (
            "frozen",
            "MINI is frozen: its data cannot change.",
            "L'étude MINI est gelée : ses données ne peuvent plus être modifiées.",
        ),
        (
            "locked",
            "MINI is locked: its data cannot change.",
            "L'étude MINI est verrouillée : ses données ne peuvent plus être modifiées.",
        ),
    ],
)
def test_a_frozen_or_locked_studys_form_has_no_editable_input_and_says_why(
    capture: Capture, mode: str, english: str, french_words: str
) -> None:
    save_vitals(capture, weight=70)
    form_mark_not_done(
        actor=capture.entry,
        subject=capture.subject,
        event="baseline",
        form="lesions",
        base_version=0,
        reason="scanner broken",
    )
    study_mode_change(actor=ADMIN, study=capture.world.study, mode="frozen", reason="cleaning")
    if mode == "locked":
        study_mode_change(actor=ADMIN, study=capture.world.study, mode="locked", reason="end")
    client = client_of(capture.entry)
    html = client.get(VITALS).content.decode()
    assert read_only_reason(html) == english
    assert editable_controls(html) == []
    assert 'id="save"' not in html
    assert 'id="not-done"' not in html
    assert "hx-post" not in capture_form(html)  # no live validation of what cannot be saved
    assert 'value="70"' in html  # the values are still there to read
    # A form marked not done is not offered for reopening either: the study takes no data.
    lesions = client.get(LESIONS).content.decode()
    assert read_only_reason(lesions) == english
    assert 'id="f-reopen-reason"' not in lesions
    french_html = french(client).get(VITALS).content.decode()
    assert read_only_reason(french_html) == french_words
    assert editable_controls(french_html) == []


def test_a_study_in_production_again_opens_its_forms_for_entry(capture: Capture) -> None:
    study_mode_change(actor=ADMIN, study=capture.world.study, mode="frozen", reason="cleaning")
    study_mode_change(actor=ADMIN, study=capture.world.study, mode="production", reason="query")
    html = client_of(capture.entry).get(VITALS).content.decode()
    assert 'id="read-only"' not in html
    assert 'id="save"' in html
    assert 'id="f-weight"' in html
    assert editable_controls(html) != []


def test_a_subject_who_objected_to_the_use_of_their_data_has_read_only_forms(
    capture: Capture,
) -> None:
    consent_withdraw(
        actor=capture.entry, subject=capture.subject, kind="data_use", withdrawn_on=date(2026, 2, 1)
    )
    client = client_of(capture.entry)
    html = client.get(VITALS).content.decode()
    assert read_only_reason(html) == (
        "No data may be entered: the subject objected to further use of their data on "
        "2026-02-01: nothing more may be entered."
    )
    assert editable_controls(html) == []
    assert read_only_reason(french(client).get(VITALS).content.decode()) == (
        "Aucune donnée ne peut être saisie : le patient s'est opposé le 2026-02-01 à "
        "l'utilisation ultérieure de ses données : plus rien ne peut être saisi."
    )


def test_a_subject_withdrawn_from_follow_up_keeps_open_forms_with_a_note(
    capture: Capture,
) -> None:
    consent_withdraw(
        actor=capture.entry,
        subject=capture.subject,
        kind="follow_up",
        withdrawn_on=date(2026, 2, 1),
    )
    html = client_of(capture.entry).get(VITALS).content.decode()
    assert 'id="read-only"' not in html  # data dated before the withdrawal may still come
    assert 'id="save"' in html
    note = re.search(r'id="entry-note"[^>]*>(.*?)</p>', html, re.S)
    assert note
    assert "withdrew from follow-up on 2026-02-01" in entities.unescape(note.group(1))


def test_a_form_marked_not_done_and_a_monitor_say_why_they_are_read_only(
    capture: Capture,
) -> None:
    form_mark_not_done(
        actor=capture.entry,
        subject=capture.subject,
        event="baseline",
        form="lesions",
        base_version=0,
        reason="scanner broken",
    )
    lesions = client_of(capture.entry).get(LESIONS).content.decode()
    assert read_only_reason(lesions) == "This form is marked not done: reopen it to enter data."
    assert editable_controls(lesions) == []
    assert 'id="f-reopen-reason"' in lesions
    monitor = client_of(capture.monitor).get(VITALS).content.decode()
    assert read_only_reason(monitor) == "You may read this form; you may not change it."
    assert editable_controls(monitor) == []


# --- a stale save ---------------------------------------------------------------------------


def input_value(html: str, name: str) -> str:
    match = re.search(rf'<input [^>]*name="{name}"[^>]*>', html)
    assert match, name
    value = re.search(r'value="([^"]*)"', match.group(0))
    return value.group(1) if value else ""


def conflict_text(html: str) -> str:
    match = re.search(r'<div class="alert" role="alert" id="conflict">(.*?)</div>', html, re.S)
    assert match, "the conflict is shown"
    return re.sub(r"\s+", " ", entities.unescape(re.sub(r"<[^>]+>", " ", match.group(1))))


def test_a_stale_save_keeps_what_was_typed_and_brings_in_the_other_changes(
    capture: Capture,
) -> None:
    paul = person(
        "paul", study=capture.world.study, role=Role.DATA_ENTRY, sites=[capture.world.site_a]
    )
    save_vitals(capture, weight=70, height=175)  # version 1: what Julie's page shows
    with time_machine.travel(datetime(2027, 7, 1, 12, 3, tzinfo=UTC), tick=False):
        save_vitals(capture, paul, weight=72)  # version 2, while Julie types
    client = client_of(capture.entry)
    response = client.post(
        VITALS,
        vitals(version="1", **{"v-weight": "70", "v-height": "180", "v-sbp": "135"}),
    )
    assert response.status_code == 409
    html = response.content.decode()
    text = conflict_text(html)
    # The item's label, the value, who and when in the site's local time (Montpellier).
    assert "Weight: 72 — Paul, 2027-07-01 14:03 CEST" in text
    assert "weight —" not in text
    # What Julie typed stays in the form; Paul's weight comes in where she had typed nothing new.
    assert input_value(html, "v-height") == "180"
    assert input_value(html, "v-sbp") == "135"
    assert input_value(html, "v-weight") == "72"
    assert input_value(html, "version") == "2"
    assert stored()[("height", 0)] == "175"  # nothing saved yet
    # Saving the page as it is now keeps both: Paul's weight and Julie's height.
    again = client.post(
        VITALS,
        vitals(version="2", **{"v-weight": "72", "v-height": "180", "v-sbp": "135"}),
    )
    assert again.status_code == 302
    assert stored()[("weight", 0)] == "72"
    assert stored()[("height", 0)] == "180"


def test_when_both_changed_one_item_what_was_typed_is_kept_and_flagged(capture: Capture) -> None:
    paul = person(
        "paul", study=capture.world.study, role=Role.DATA_ENTRY, sites=[capture.world.site_a]
    )
    save_vitals(capture, weight=70)
    save_vitals(capture, paul, weight=72)
    client = french(client_of(capture.entry))
    response = client.post(VITALS, vitals(version="1", **{"v-weight": "71"}))
    assert response.status_code == 409
    html = response.content.decode()
    assert "Poids : 72 — Paul" in conflict_text(html)
    assert input_value(html, "v-weight") == "71"  # hers, not lost
    message = re.search(r'id="msg-weight"[^>]*>(.*?)</div>', html, re.S)
    assert message
    assert "Paul a enregistré « 72 » ici" in entities.unescape(message.group(1))
    assert stored()[("weight", 0)] == "72"


def test_a_stale_reopening_names_what_changed_by_item_label(capture: Capture) -> None:
    paul = person(
        "paul", study=capture.world.study, role=Role.DATA_ENTRY, sites=[capture.world.site_a]
    )
    save_vitals(capture, weight=70)
    save_vitals(capture, paul, weight=72)
    form_mark_not_done(
        actor=capture.entry,
        subject=capture.subject,
        event="baseline",
        form="vitals",
        base_version=2,
        reason="scale broken",
    )
    client = client_of(capture.entry)
    stale = client.post(VITALS + "reopen/", {"version": "1", "reason": "done"}, follow=True)
    html = entities.unescape(stale.content.decode())
    assert "The form changed since you opened it (now version 3): Weight by Paul." in html
    french(client)
    stale = client.post(VITALS + "reopen/", {"version": "1", "reason": "done"}, follow=True)
    assert "Poids par Paul" in entities.unescape(stale.content.decode())
