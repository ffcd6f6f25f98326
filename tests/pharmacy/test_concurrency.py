"""Simultaneous kit assignments on SQLite and PostgreSQL: each from its own thread and database
connection, scarce stock, every visit asked twice at once. No kit is given twice, no visit gets
two sets, every kit holds its subject's arm, and the refusals are exactly the stock missing."""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path

import pytest
from django.db import connection

from carnet.pharmacy.assignment import NoUsableKit, visit_kits_assign
from carnet.pharmacy.models import Kit, KitStatus
from carnet.randomization.models import Allocation
from carnet.subjects.models import Subject
from tests.pharmacy.dispensing_world import pharmacy_trial

SUBJECTS = 8


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_simultaneous_assignments_never_give_a_kit_twice(tmp_path: Path) -> None:
    trial = pharmacy_trial(tmp_path)
    # Exactly one kit per subject for randomisation, then three of each arm for the cycles.
    trial.stock("experimental", count=SUBJECTS)
    trial.stock("placebo", count=SUBJECTS)
    subjects = [trial.randomised() for _ in range(SUBJECTS)]
    Kit.objects.filter(status=KitStatus.AVAILABLE).update(status=KitStatus.EXPIRED)
    trial.stock("experimental", count=3)
    trial.stock("placebo", count=3)
    arms = dict(Allocation.objects.values_list("subject_id", "arm"))
    start = threading.Barrier(SUBJECTS * 2)
    outcomes: list[str] = []
    lock = threading.Lock()

    def assign(subject_id: int) -> None:
        try:
            subject = Subject.objects.select_related("study", "site").get(pk=subject_id)
            start.wait()
            try:
                kits = visit_kits_assign(
                    actor=trial.pharmacist, subject=subject, event="cycle", occurrence=1
                )
                outcome = kits[0].number
            except NoUsableKit:
                outcome = "none"
            with lock:
                outcomes.append(outcome)
        finally:
            connection.close()

    threads = [threading.Thread(target=assign, args=(s.pk,)) for s in subjects for _twice in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(outcomes) == SUBJECTS * 2
    assigned = list(Kit.objects.filter(event="cycle").values_list("subject_id", "content"))
    # One kit per visit at most, each of the subject's arm.
    assert len({subject_id for subject_id, _ in assigned}) == len(assigned)
    assert all(content == arms[subject_id] for subject_id, content in assigned)
    per_arm = Counter(arms.values())
    expected = sum(min(3, n) for n in per_arm.values())
    assert len(assigned) == expected
    # A visit asked twice got the same kit both times (or none both times).
    given = Counter(o for o in outcomes if o != "none")
    assert set(given.values()) == {2}
    assert len(given) == expected
