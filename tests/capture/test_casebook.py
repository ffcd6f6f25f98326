"""The casebook shows every form that exists, whatever the schedule computes, stays readable for
long treatments (folded finished occurrences) and is read in the same few queries however many
occurrences a subject has."""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from carnet.capture.services import form_save
from carnet.studies.definition import study_file_read
from carnet.studies.services import study_load, study_publish
from carnet.subjects.services import visit_record
from tests.accounts.personas import ADMIN, FIXTURE
from tests.capture.conftest import Capture

pytestmark = pytest.mark.django_db

SUBJECT = "/studies/MINI/subjects/01-001/"
API = "/api/studies/MINI/subjects/01-001/casebook"
BASELINE = date(2026, 1, 5)  # the subject's inclusion, in the capture fixture

# An amendment of MINI adds a treatment given every 21 days from randomisation: until the
# subject is randomised, the schedule cannot place it.
TREATMENT = """  - name: treatment
    label: {en: Treatment course, fr: Cure}
    schedule:
      anchor: randomisation
      window: {before: 0, after: 3}
      repeat: {every_days: 21, from: previous}
    forms: [vitals]
  - name: adverse_events
"""


def client_of(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def save_vitals(capture: Capture, event: str, occurrence: int, *, complete: bool = True) -> None:
    outcome = form_save(
        actor=capture.entry,
        subject=capture.subject,
        event=event,
        occurrence=occurrence,
        form="vitals",
        base_version=0,
        values={"weight": 70, "height": 175, "sbp": 130, "dbp": 80},
        complete=complete,
    )
    assert not getattr(outcome, "errors", None), outcome


def columns(client: Client) -> list[tuple[str, int, str]]:
    response = client.get(API)
    assert response.status_code == 200, response.content
    return [(c["event"], c["occurrence"], c["visit_status"]) for c in response.json()]


def test_a_form_saved_where_the_schedule_places_no_occurrence_still_shows(
    capture: Capture,
) -> None:
    # Without visit dates the schedule projects cycles every 14 days up to the one after today;
    # cycle 300 (in 2037) is far beyond: the schedule does not place it, yet it holds a form.
    save_vitals(capture, "cycle", 300)
    client = client_of(capture.entry)
    found = columns(client)
    # Baseline's window closed by the inclusion: counted as done then, never overdue (issue 14).
    assert found[0] == ("baseline", 1, "done")
    assert found[-1] == ("cycle", 300, "recorded")
    assert found[-2][:2] == ("cycle", len(found) - 2)  # the schedule's own, 1 to n, before it
    html = client.get(SUBJECT + "casebook/").content.decode()
    cell = re.search(
        r'<td class="form-cell status-(\w+)"><a href="([^"]+/cycle/300/vitals/)"', html
    )
    assert cell
    assert cell.groups() == ("complete", SUBJECT + "forms/cycle/300/vitals/")
    assert "Vital signs, Cycle 300: </span>complete" in html
    assert "recorded" in html


@pytest.fixture
def treated(capture: Capture, tmp_path: Path) -> Capture:
    """Return the capture world once an amendment adds a randomisation-anchored treatment."""
    text = FIXTURE.read_text(encoding="utf-8")
    assert text.count("  - name: adverse_events\n") == 1
    amended = tmp_path / "mini.yaml"
    amended.write_text(text.replace("  - name: adverse_events\n", TREATMENT), encoding="utf-8")
    study_load(actor=ADMIN, study_file=study_file_read(amended), source_name="mini.yaml")
    study_publish(actor=ADMIN, study=capture.world.study)
    capture.subject.study.refresh_from_db()
    return capture


def test_an_event_the_schedule_cannot_place_yet_shows_as_not_yet_scheduled(
    treated: Capture,
) -> None:
    client = client_of(treated.entry)
    assert ("treatment", 1, "not_scheduled") in columns(client)
    html = client.get(SUBJECT + "casebook/").content.decode()
    assert "not yet scheduled" in html
    assert f'href="{SUBJECT}forms/treatment/1/vitals/"' in html
    assert "Add an occurrence" not in html  # occurrence 1 is there to open

    # Two courses entered before the randomisation date is known: both show, and the next one
    # is offered to whoever enters data, not to the monitor.
    save_vitals(treated, "treatment", 1)
    save_vitals(treated, "treatment", 2, complete=False)
    found = [c for c in columns(client) if c[0] == "treatment"]
    assert found == [("treatment", 1, "recorded"), ("treatment", 2, "recorded")]
    html = client.get(SUBJECT + "casebook/").content.decode()
    assert "Vital signs, Treatment course 1: </span>complete" in html
    assert "Vital signs, Treatment course 2: </span>in progress" in html
    assert "Add an occurrence" in html
    assert f'<a href="{SUBJECT}forms/treatment/3/vitals/">Vital signs</a>' in html
    monitor = client_of(treated.monitor).get(SUBJECT + "casebook/").content.decode()
    assert "Vital signs, Treatment course 2: </span>in progress" in monitor
    assert "forms/treatment/3/" not in monitor

    # French: the word for an event the schedule cannot place yet.
    client.post("/language/", {"language": "fr", "next": "/"})
    assert "Ajouter une occurrence" in client.get(SUBJECT + "casebook/").content.decode()


def held_cycles(capture: Capture, first: int, last: int) -> None:
    """Record cycles ``first`` to ``last`` on their day and complete their vital signs."""
    for number in range(first, last + 1):
        visit_record(
            actor=capture.entry,
            subject=capture.subject,
            event="cycle",
            occurrence=number,
            visit_on=BASELINE + timedelta(days=14 * number),
        )
        save_vitals(capture, "cycle", number)


def test_a_long_treatment_folds_its_finished_cycles_and_keeps_every_form_reachable(
    capture: Capture,
) -> None:
    visit_record(actor=capture.entry, subject=capture.subject, event="baseline", visit_on=BASELINE)
    held_cycles(capture, 1, 12)
    client = client_of(capture.entry)
    html = client.get(SUBJECT + "casebook/").content.decode()
    # Cycles 1-8 fold into one column; 9-12 and the cycles overdue since stay in view.
    assert re.search(r'<span aria-hidden="true">1–8</span>', html)
    assert "Show every occurrence" in html
    folded = re.search(r'<td class="form-cell folded"><details><summary>(.*?)</summary>', html)
    assert folded
    assert folded.group(1) == "8 complete"
    for number in range(1, 13):
        assert f'href="{SUBJECT}forms/cycle/{number}/vitals/"' in html, number
    headers = re.findall(r'<th scope="col" class="visit window-(\w+)">', html)
    assert headers[:5] == ["done"] * 5  # baseline, cycles 9 to 12
    assert headers[5:]
    assert set(headers[5:]) <= {"overdue", "due", "upcoming"}
    # Shown one by one on request, each cycle in its own column.
    every = client.get(SUBJECT + "casebook/?all=1").content.decode()
    assert "form-cell folded" not in every
    assert len(re.findall(r'<th scope="col" class="visit window-done">', every)) == 13
    # The API lists every occurrence, folded or not.
    assert [c for c in columns(client) if c[0] == "cycle"][:12] == [
        ("cycle", n, "done") for n in range(1, 13)
    ]


def test_the_casebook_reads_the_same_few_queries_for_3_or_20_cycles(capture: Capture) -> None:
    visit_record(actor=capture.entry, subject=capture.subject, event="baseline", visit_on=BASELINE)
    held_cycles(capture, 1, 3)
    client = client_of(capture.entry)
    client.get(SUBJECT + "casebook/")  # the session and the study's rules, read once

    def queries(page: str) -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(page).status_code == 200
        return len(captured)

    few = (queries(SUBJECT + "casebook/"), queries(API))
    held_cycles(capture, 4, 20)
    many = (queries(SUBJECT + "casebook/"), queries(API))
    assert many == few
    assert few[0] <= 25
