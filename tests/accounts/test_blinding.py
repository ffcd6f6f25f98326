"""The blinding policy holds for every output: no page or API answer, error answers included,
shows a blinded person an arm-revealing value.

An item of MINI's vital signs, the treatment revealed, is arm-revealing (a kit number is not: the
site must see it; the kit list is). Site data entry types it; then a blinded investigator of the
same site and a blinded monitor walk every page and every API read with the real study, subject,
visit, form, item and site in the path, and make the saves that a stale form refuses (the
conflict answers list what changed). The value never shows; an unblinded statistician reads it,
which proves the walk reaches it. A second subject was randomised on paper during an outage with
one of site A's sealed envelopes: the outage pages, the reconciliation and the envelopes' PDF
are walked too.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from carnet.accounts.blinding import HIDDEN, blinding_of
from carnet.accounts.models import User
from carnet.accounts.roles import Role
from carnet.accounts.services import token_create
from carnet.capture.services import form_save
from carnet.randomization.models import Envelope
from carnet.randomization.outage import backup_list_generate, subject_randomise_on_paper
from carnet.randomization.services import subject_randomise
from carnet.studies.definition import study_file_read
from carnet.studies.services import study_load, study_mode_change, study_publish
from tests.accounts.personas import ADMIN, FIXTURE, person, with_second_factor, world
from tests.capture.conftest import include

pytestmark = pytest.mark.django_db

KIT = "471147"  # the value typed in the arm-revealing item: what must never show
KIT_ITEM = (
    "          - {name: treatment_revealed, type: text, flags: [arm_revealing],"
    " label: {en: Treatment revealed, fr: Traitement révélé}}\n"
)
# What each path parameter stands for in the walk: the subject's own visit, form and kit item.
PATH_VALUES = {
    "identifier": "MINI",
    "subject": "01-001",
    "event": "baseline",
    "occurrence": "1",
    "form": "vitals",
    "item": "treatment_revealed",
    "site": "01",
    "group": "vs",
    "number": "1",
}


@pytest.fixture
def blinded_world(tmp_path: Path) -> dict[str, Any]:
    text = FIXTURE.read_text(encoding="utf-8")
    anchor = "          - {name: vs_date, type: date,"
    assert text.count(anchor) == 1
    amended = tmp_path / "mini.yaml"
    amended.write_text(text.replace(anchor, KIT_ITEM + anchor), encoding="utf-8")
    w = world()  # MINI as published; the amended file becomes its version 2
    study_load(actor=ADMIN, study_file=study_file_read(amended), source_name="mini.yaml")
    study_publish(actor=ADMIN, study=w.study)
    study_mode_change(actor=ADMIN, study=w.study, mode="production")
    w.study.refresh_from_db()
    entry = person("julie", study=w.study, role=Role.DATA_ENTRY, sites=[w.site_a])
    subject = include(w, entry)
    saved = form_save(
        actor=entry,
        subject=subject,
        event="baseline",
        form="vitals",
        base_version=0,
        values={"weight": 70, "smoker": 1, "treatment_revealed": KIT},
    )
    # Randomised: the walk reaches the randomisation page and endpoint with an arm behind them.
    allocation = subject_randomise(actor=entry, subject=subject)
    # An outage: site A's sealed envelopes, one used for a second subject (recorded afterwards).
    backup_list_generate(actor=ADMIN, study=w.study, site=w.site_a, per_stratum=2)
    second = include(w, entry)
    form_save(
        actor=entry,
        subject=second,
        event="baseline",
        form="vitals",
        base_version=0,
        values={"weight": 70, "smoker": 1},
    )
    envelope = Envelope.objects.filter(stratum="site=01|smoker=1").order_by("sequence").first()
    assert envelope is not None
    subject_randomise_on_paper(
        actor=entry,
        subject=second,
        envelope=envelope.number,
        allocated_at=datetime(2026, 1, 5, 14, 0, tzinfo=UTC),
        allocated_by="Dr Irene Martin",
        reason="network down",
    )
    return {
        "arm": allocation.arm,
        "world": w,
        "subject": subject,
        "version": saved.form_instance.version,
        "investigator": person("irene", study=w.study, role=Role.INVESTIGATOR, sites=[w.site_a]),
        "monitor": person("sophie", study=w.study, role=Role.MONITOR, sites=[w.site_a, w.site_b]),
        # A blinded reader of the whole audit trail (its page, CSV, PDF and API walked too).
        "inspector": person("ines", study=w.study, role=Role.INSPECTOR),
        # Unblinded roles must use a second factor, on the pages and for their tokens.
        "unblinded": with_second_factor(
            person("ulysse", study=w.study, role=Role.UNBLINDED_STATISTICIAN)
        ),
    }


def _patterns(patterns: list[Any], prefix: str = "") -> Iterator[str]:
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _patterns(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern)


def _paths() -> list[str]:
    """Return every page and API path with its parameters filled, once each."""
    paths = []
    for route in _patterns(get_resolver().url_patterns):
        if route.startswith(("^", "static")):
            continue
        names = re.findall(r"<(?:\w+:)?(\w+)>", route)
        if any(name not in PATH_VALUES for name in names):
            continue  # a token, a sign-in link, a file digest: no clinical value behind it
        path = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: PATH_VALUES[m.group(1)], route)
        paths.append("/" + path)
    return sorted(set(paths))


def _answers(user: User, study: Any, version: int) -> dict[str, str]:
    """Return every answer the person gets: each path read through the page session and the
    API token, and the conflicts of stale saves, not-done and reopen (API and page)."""
    _, key = token_create(actor=ADMIN, user=user, study=study)
    page = Client()
    page.force_login(user)
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    if device is not None:  # signed in with the second factor, as the sign-in page does
        session = page.session
        session[DEVICE_ID_SESSION_KEY] = device.persistent_id
        session.save()
    api = Client(headers={"authorization": f"Bearer {key}"})
    answers = {}
    for path in _paths():
        client = api if path.startswith("/api/") else page
        response = client.get(path)
        # A streamed answer (the query list's CSV export) is read whole, as a browser would.
        body = b"".join(response.streaming_content) if response.streaming else response.content
        answers[f"GET {path}"] = body.decode(errors="replace")
    form = "/api/studies/MINI/subjects/01-001/forms/baseline/1/vitals"
    stale = {"version": version - 1, "values": {"weight": 71}, "reason": "typo"}
    answers["PUT stale"] = api.put(form, stale, content_type="application/json").content.decode()
    for action in ("not-done", "reopen"):
        answers[f"POST {action} stale"] = api.post(
            f"{form}/{action}",
            {"version": version - 1, "reason": "because"},
            content_type="application/json",
        ).content.decode()
    page_form = "/studies/MINI/subjects/01-001/forms/baseline/1/vitals/"
    answers["POST page stale"] = page.post(
        page_form, {"version": str(version - 1), "v-weight": "71", "reason": "typo"}
    ).content.decode()
    answers["POST page validate"] = page.post(
        f"{page_form}validate/", {"version": str(version), "v-weight": "72"}
    ).content.decode()
    for action in ("not-done", "reopen"):
        answers[f"POST page {action} stale"] = page.post(
            f"{page_form}{action}/", {"version": str(version - 1), "reason": "because"}
        ).content.decode()
    # Randomising again is refused: the refusal must not name the arm either.
    answers["POST randomisation again"] = api.post(
        "/api/studies/MINI/subjects/01-001/randomisation", {}, content_type="application/json"
    ).content.decode()
    answers["POST page randomisation again"] = page.post(
        "/studies/MINI/subjects/01-001/randomisation/", {"factor-site": "01", "factor-smoker": "1"}
    ).content.decode()
    # Unblinding refused (no confirmation, a wrong signature; not pharmacovigilance): the
    # refusals must not name the arm either.
    refused = {"reason": "emergency", "password": "wrong", "confirmed": False}
    answers["POST unblinding refused"] = api.post(
        "/api/studies/MINI/subjects/01-001/unblinding", refused, content_type="application/json"
    ).content.decode()
    answers["POST pharmacovigilance-unblinding refused"] = api.post(
        "/api/studies/MINI/subjects/01-001/pharmacovigilance-unblinding",
        {"reason": "SUSAR", "case_reference": "PV-1"},
        content_type="application/json",
    ).content.decode()
    answers["POST page unblinding refused"] = page.post(
        "/studies/MINI/subjects/01-001/unblinding/", {"reason": "emergency", "password": "wrong"}
    ).content.decode()
    answers["POST page pharmacovigilance-unblinding refused"] = page.post(
        "/studies/MINI/subjects/01-001/pharmacovigilance-unblinding/",
        {"reason": "SUSAR", "case_reference": "PV-1"},
    ).content.decode()
    return answers


@pytest.mark.parametrize("persona", ["investigator", "monitor", "inspector"])
def test_no_page_or_api_answer_shows_a_blinded_person_an_arm_revealing_value(
    blinded_world: dict[str, Any], persona: str
) -> None:
    user = blinded_world[persona]
    answers = _answers(user, blinded_world["world"].study, blinded_world["version"])
    assert len(answers) > 40  # the walk covers the site, not a handful of paths
    leaks = [where for where, body in answers.items() if KIT in body]
    assert leaks == []
    if persona == "investigator":  # who may enter data: the conflicts list the change, masked
        assert HIDDEN in answers["PUT stale"]


def test_the_walk_reaches_the_value_for_an_unblinded_person(blinded_world: dict[str, Any]) -> None:
    answers = _answers(
        blinded_world["unblinded"], blinded_world["world"].study, blinded_world["version"]
    )
    assert [where for where, body in answers.items() if KIT in body]


def test_the_policy_masks_only_arm_revealing_values_for_the_blinded(
    blinded_world: dict[str, Any],
) -> None:
    study = blinded_world["world"].study
    blinded = blinding_of(blinded_world["investigator"], study=study)
    unblinded = blinding_of(blinded_world["unblinded"], study=study)
    kit = next(
        item
        for _, _, item in study.current_version.parsed().items()
        if item.name == "treatment_revealed"
    )
    assert blinded.text(kit, KIT) == HIDDEN
    assert blinded.text(kit, "") == ""  # an empty value says nothing
    assert unblinded.text(kit, KIT) == KIT
    change = {"text": KIT, "old": KIT, "new": KIT, "by": "Julie"}
    assert blinded.change(kit, change) == {
        "text": HIDDEN,
        "old": HIDDEN,
        "new": HIDDEN,
        "by": "Julie",
    }


# Where the subject's own allocation shows: its page, its randomisation step and endpoint, and
# the refusals of a second randomisation. (The study's outline names both arms to everyone.)
ALLOCATION_PLACES = ("randomisation", "unblinding", "GET /studies/MINI/subjects/01-001/")


@pytest.mark.parametrize("persona", ["investigator", "monitor", "inspector"])
def test_no_answer_about_the_allocation_shows_a_blinded_person_the_arm(
    blinded_world: dict[str, Any], persona: str
) -> None:
    answers = _answers(
        blinded_world[persona], blinded_world["world"].study, blinded_world["version"]
    )
    places = {
        where: body
        for where, body in answers.items()
        if any(place in where for place in ALLOCATION_PLACES)
    }
    assert len(places) >= 9  # page, step, endpoint, two refusals, unblinding page and refusals
    assert "GET /studies/MINI/subjects/01-001/unblinding/" in places
    # The outage pages: the reconciliation (page and API) and the envelopes' PDF, refused.
    assert "01-002" in places["GET /api/studies/MINI/randomisation/reconciliation"]
    assert "01-002" in places["GET /studies/MINI/randomisation/outage/"]
    assert "Only unblinded roles" in places["GET /studies/MINI/randomisation/envelopes/01.pdf"]
    assert [where for where, body in places.items() if blinded_world["arm"] in body] == []
    assert HIDDEN in places["GET /api/studies/MINI/subjects/01-001/randomisation"]


def test_the_unblinded_statistician_reads_the_arm(blinded_world: dict[str, Any]) -> None:
    answers = _answers(
        blinded_world["unblinded"], blinded_world["world"].study, blinded_world["version"]
    )
    assert blinded_world["arm"] in answers["GET /api/studies/MINI/subjects/01-001/randomisation"]
    assert blinded_world["arm"] in answers["GET /studies/MINI/subjects/01-001/randomisation/"]
    assert answers["GET /studies/MINI/randomisation/envelopes/01.pdf"].startswith("%PDF")
