"""Issue 14 in Chromium, as the issue tells it: on the demo, `dataentry` opens patient 01-001 of
MAINTAIN-CRC and sees all of its treatment cycles, tumour assessments and adverse events in the
casebook, with the occurrences the schedule places from the randomisation date still to come
(issue 17: the demo randomises); the first finished cycles fold into one column and open from
there.

The screenshot is written to docs/guide/img/casebook.png for the user guide, on a frozen day so
that it changes only when the page does.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import time_machine
from playwright.sync_api import expect

from carnet.audit.services import SystemActor
from carnet.capture.models import FormInstance
from carnet.demo import demo_load, demo_patients_load, demo_studies_load
from carnet.subjects.models import Subject
from carnet.subjects.selectors import subject_occurrences

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
PASSWORD = "the demo password 2026"
TODAY = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
CASEBOOK = "/studies/MAINTAIN-CRC/subjects/01-001/casebook/"
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "guide" / "img" / "casebook.png"


def test_data_entry_sees_every_cycle_assessment_and_adverse_event_of_01_001(page: Any) -> None:
    with time_machine.travel(TODAY, tick=True):
        actor = SystemActor(label="e2e demo")
        demo_load(actor=actor, password=PASSWORD)
        demo_studies_load(actor=actor)
        demo_patients_load(actor=actor, phase3=12, phase2=0)
        subject = Subject.objects.get(study__identifier="MAINTAIN-CRC", identifier="01-001")
        stored = FormInstance.objects.filter(subject=subject)
        cycles = stored.filter(event="cycle", form="treatment").count()
        assessments = stored.filter(event="tumour_assessment").count()
        adverse_events = stored.filter(form="adverse_event").count()
        assert cycles > 8
        assert assessments > 1
        assert adverse_events > 0

        page.set_viewport_size({"width": 1366, "height": 900})
        page.goto("/login/")
        page.get_by_label("User name").fill("dataentry")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url("**/")
        page.goto(CASEBOOK)
        grid = page.locator("#casebook")
        text = grid.inner_text()
        # A column per stored occurrence and per occurrence the schedule places (one awaited
        # assessment, say, beyond the last recorded one).
        placed = subject_occurrences(subject)
        for event, label, count in (
            ("cycle", "Treatment cycle", cycles),
            ("tumour_assessment", "Tumour assessment", assessments),
        ):
            shown = {o.number for o in placed if o.event == event} | set(
                stored.filter(event=event).values_list("occurrence", flat=True)
            )
            assert len(shown) >= count
            assert f"{label} ({len(shown)} occurrences)" in text
        assert "Adverse events and concomitant medications" in text
        # Every stored form opens from the casebook, folded or not.
        for instance in stored:
            link = f"forms/{instance.event}/{instance.occurrence}/{instance.form}/"
            if instance.form in {"adverse_event", "concomitant_medication"}:
                link += f"?repeat={instance.repeat}"
            assert grid.locator(f"a[href$='{link}']").count() == 1, link
        # The first finished cycles fold into one column: its summary opens onto each cycle.
        name = "Study treatment administration"
        treatment = grid.locator("tr", has_text=name)
        folded = treatment.locator("td.folded details")
        first_cycle = folded.locator("a[href$='/forms/cycle/1/treatment/']")
        expect(first_cycle).to_be_hidden()
        folded.locator("summary").click()
        expect(first_cycle).to_be_visible()
        # The form names stay in view when the grid scrolls sideways.
        grid.evaluate("element => { element.scrollLeft = element.scrollWidth; }")
        expect(grid.locator("th.form-name", has_text=name)).to_be_in_viewport()
        # The guide's picture: the grid from its first row, the fold closed again.
        folded.locator("summary").click()
        grid.evaluate("element => { element.scrollLeft = 0; element.scrollTop = 0; }")
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOT))
