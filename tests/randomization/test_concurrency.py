"""Simultaneous randomisations through the HTTP API, on SQLite and PostgreSQL.

50 subjects of one stratum randomised at the same moment (50 threads, each with its own
database connection): 50 distinct allocations, and the stratum's list used from its first entry
to its 50th with none skipped or reused; then all 50 asked again at once: 50 refusals, nothing
changes. Minimisation: 25 subjects each asked for twice at the same moment. (At most 50
connections at once: the PostgreSQL of a test machine allows 100, shared.)
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from django.db import connection
from django.test import Client

from carnet.accounts.services import token_create
from carnet.randomization.models import Allocation, ListEntry
from carnet.randomization.services import list_generate
from tests.accounts.factories import ADMIN
from tests.randomization.conftest import BLOCKS, MINIMISATION, trial_with

SUBJECTS = 50


def _randomise_all_at_once(key: str, requests: list[str]) -> list[int]:
    """POST a randomisation for each identifier, all from their own thread at once."""
    start = threading.Barrier(len(requests))
    statuses: list[int] = []
    lock = threading.Lock()

    def randomise(identifier: str) -> None:
        client = Client(headers={"authorization": f"Bearer {key}"})
        try:
            start.wait()
            answer = client.post(
                f"/api/studies/MINI/subjects/{identifier}/randomisation",
                {},
                content_type="application/json",
            )
            with lock:
                statuses.append(answer.status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=randomise, args=(i,)) for i in requests]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_fifty_simultaneous_randomisations_use_the_list_in_order_once_each(
    tmp_path: Path,
) -> None:
    trial = trial_with(BLOCKS, tmp_path)
    list_generate(actor=ADMIN, study=trial.world.study, per_stratum=SUBJECTS, seed=17)
    subjects = [trial.include(smoker=1) for _ in range(SUBJECTS)]
    _, key = token_create(actor=ADMIN, user=trial.nurse, study=trial.world.study)
    identifiers = [s.identifier for s in subjects]
    assert _randomise_all_at_once(key, identifiers) == [201] * SUBJECTS
    allocations = list(Allocation.objects.order_by("number"))
    assert [a.number for a in allocations] == list(range(1, SUBJECTS + 1))
    assert len({a.subject_id for a in allocations}) == SUBJECTS
    assert _randomise_all_at_once(key, identifiers) == [409] * SUBJECTS
    assert Allocation.objects.count() == SUBJECTS
    used = list(
        ListEntry.objects.filter(stratum="site=01|smoker=1", used_by__isnull=False)
        .order_by("sequence")
        .values_list("sequence", "allocation__number")
    )
    # Entries 1 to 50, each taken once; the n-th allocation took the n-th entry.
    assert used == [(n, n) for n in range(1, SUBJECTS + 1)]


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_simultaneous_minimisations_allocate_each_subject_once_seeing_every_earlier_one(
    tmp_path: Path,
) -> None:
    trial = trial_with(MINIMISATION, tmp_path)
    half = SUBJECTS // 2
    subjects = [trial.include(smoker=n % 2) for n in range(half)]
    _, key = token_create(actor=ADMIN, user=trial.nurse, study=trial.world.study)
    statuses = _randomise_all_at_once(key, [s.identifier for s in subjects for _twice in (1, 2)])
    assert sorted(statuses) == [201] * half + [409] * half
    allocations = list(Allocation.objects.order_by("number"))
    assert [a.number for a in allocations] == list(range(1, half + 1))
    assert len({a.subject_id for a in allocations}) == half
    # Each allocation's scores were computed from all the ones numbered before it: replayed
    # in number order with the recorded draws, minimisation gives the same arms.
    from carnet.randomization.minimisation import MarginalCounts, minimisation_allocate

    counts = MarginalCounts()
    for allocation in allocations:
        again = minimisation_allocate(
            arms=("experimental", "placebo"),
            ratio=(1, 1),
            weights={"site": 1.0, "smoker": 1.0},
            counts=counts,
            levels=allocation.factors,
            measure="range",
            p=0.8,
            draw=allocation.draw,
        )
        assert again.arm == allocation.arm
        counts.add(allocation.factors, allocation.arm)
