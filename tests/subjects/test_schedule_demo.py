"""Issue 14 on the demo: no visit is awaited after death, the end of study or (treatment cycles)
the end of treatment, and the subject page, the lists and the counts agree for every subject.

The day is frozen, as in tests/demo/test_demo_patients.py; ACC-209 is loaded whole (the
issue saw the defect in 01-004, 02-002 and 03-001 of its 29 patients).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine

from carnet.accounts.models import User
from carnet.audit.services import SystemActor
from carnet.demo import demo_load, demo_patients_load, demo_studies_load
from carnet.studies.models import Study
from carnet.subjects.schedule import WindowStatus
from carnet.subjects.selectors import (
    overdue_list,
    subject_list,
    subject_occurrences,
    subject_summary,
)
from carnet.subjects.services import subject_settings
from carnet.subjects.statuses import ACTIVE

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

TODAY = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)


def test_no_demo_subject_awaits_a_visit_after_death_end_of_study_or_treatment(
    system_actor: SystemActor,
) -> None:
    with time_machine.travel(TODAY, tick=True):
        demo_load(actor=system_actor, password="a long demo password")
        demo_studies_load(actor=system_actor)
        demo_patients_load(actor=system_actor, phase3=12, phase2=29)
    with time_machine.travel(TODAY, tick=False):
        data_manager = User.objects.get(username="datamanager")
        seen = {"deceased": 0, "off_treatment": 0}
        for study in Study.objects.filter(identifier__in=["MAINTAIN-CRC", "ACC-209"]):
            treatment_events = set(subject_settings(study).treatment_events)
            assert treatment_events == {"cycle"}
            listed = {
                s.subject.pk: s for s in subject_list(data_manager, study=study, per_page=None)
            }
            late: dict[int, list[tuple[str, int]]] = {}
            for row in overdue_list(data_manager, study=study):
                late.setdefault(row.subject.pk, []).append(
                    (row.occurrence.event, row.occurrence.number)
                )
            for subject in study.subjects.select_related("site", "site__centre", "study"):
                occurrences = subject_occurrences(subject)
                awaited = [o for o in occurrences if o.open]
                if subject.study_status not in ACTIVE | {"screened"}:
                    seen["deceased"] += subject.study_status == "deceased"
                    assert awaited == [], (subject.identifier, subject.study_status)
                    left = subject.study_status_on
                    after = [
                        o for o in occurrences if o.done_on is None and o.target and o.target > left
                    ]
                    assert after == [], subject.identifier
                end = subject.end_of_treatment_on
                if end is not None:
                    seen["off_treatment"] += 1
                    cycles = [
                        o for o in occurrences if o.event in treatment_events and o.done_on is None
                    ]
                    assert [o for o in cycles if o.open] == [], subject.identifier
                    assert [o for o in cycles if o.target and o.target > end] == []
                # One answer: the page's statuses, its header, the list, the overdue list.
                on_page = [
                    (o.event, o.number) for o in occurrences if o.status == WindowStatus.OVERDUE
                ]
                header = subject_summary(subject)
                assert [(o.event, o.number) for o in header.overdue] == on_page
                row = listed[subject.pk]
                assert [(o.event, o.number) for o in row.overdue] == on_page, subject.identifier
                assert sorted(late.get(subject.pk, [])) == sorted(on_page), subject.identifier
                following = header.next_visit
                assert (row.next_visit and (row.next_visit.event, row.next_visit.number)) == (
                    following and (following.event, following.number)
                ), subject.identifier
        assert seen["deceased"] > 0
        assert seen["off_treatment"] > 0
