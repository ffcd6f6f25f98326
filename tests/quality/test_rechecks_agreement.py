"""The row evaluator (each save) and the column evaluator (a whole-study re-check) open the same
check results, on generated subjects: after every form is saved, a re-check changes nothing."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carnet.capture.models import CheckResult
from carnet.capture.services import Missing
from carnet.quality.rechecks import checks_recheck
from tests.accounts.personas import ADMIN
from tests.capture.conftest import Capture, capture, include  # noqa: F401 (the fixture)
from tests.quality.test_rechecks import amended, publish, save

pytestmark = pytest.mark.django_db


def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    # Left empty, or a missing-data code, or a value.
    return st.one_of(st.none(), st.just(Missing("ND")), strategy)


vitals = st.fixed_dictionaries(
    {
        "weight": st.integers(20, 250).map(str),
        "sbp": maybe(st.integers(60, 200)),
        "dbp": maybe(st.integers(40, 160)),
        "vs_date": maybe(st.integers(0, 2000).map(lambda days: date(2020, 1, 1) + timedelta(days))),
    }
)
lesion_rows = st.lists(
    st.one_of(st.just(Missing("ND")), st.integers(10, 300)), min_size=0, max_size=5
)
subject = st.fixed_dictionaries(
    {
        "baseline": vitals,
        "cycles": st.lists(vitals, max_size=2),
        "lesions": st.one_of(st.none(), lesion_rows),
    }
)


@pytest.fixture
def checked(capture: Capture, tmp_path: Path) -> Capture:  # noqa: F811 (the imported fixture)
    publish(capture, amended(tmp_path))
    return capture


def _save_subject(c: Capture, generated: dict[str, Any]) -> None:
    person = include(c.world, c.entry)
    # Baseline first: later forms read it, and a save evaluates only the form it saves.
    save(c, person, "baseline", "vitals", values=generated["baseline"])
    for occurrence, values in enumerate(generated["cycles"], start=1):
        save(c, person, "cycle", "vitals", occurrence=occurrence, values=values)
    if generated["lesions"] is not None:
        rows = {
            number: {"diameter": value}
            for number, value in enumerate(generated["lesions"], start=1)
        }
        save(c, person, "baseline", "lesions", rows={"target": rows})


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.lists(subject, min_size=1, max_size=3))
def test_a_recheck_after_saving_opens_and_closes_nothing(checked: Capture, subjects: list) -> None:
    for generated in subjects:
        _save_subject(checked, generated)
    # A check over a repeating group is placed by the save on each row that fails it (row 0
    # when no single row does): the re-check places it on the same rows.
    saved = set(
        CheckResult.objects.filter(open=True).values_list("form_instance_id", "check_name", "row")
    )

    outcome = checks_recheck(actor=ADMIN, study=checked.world.study)

    assert (outcome.opened, outcome.closed) == (0, 0), outcome.as_json()
    assert sum(rule.firing for rule in outcome.rules.values()) == len(saved)
    # From nothing open, the re-check opens exactly what the saves opened, row for row.
    CheckResult.objects.filter(open=True).update(open=False)
    reopened = checks_recheck(actor=ADMIN, study=checked.world.study)
    assert reopened.opened == len(saved)
    assert (
        set(
            CheckResult.objects.filter(open=True).values_list(
                "form_instance_id", "check_name", "row"
            )
        )
        == saved
    )
