"""Expected vs collected per visit, the casebook's visit marks, and missing samples on the
overdue list (counted in SQL, not subject by subject)."""

from __future__ import annotations

from datetime import date

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from carnet.biobank.expected import SampleState, missing_samples, visit_samples
from tests.biobank.conftest import Biobank

pytestmark = pytest.mark.django_db

TODAY = date(2026, 1, 20)


def _states(biobank: Biobank) -> dict[str, str]:
    visits = visit_samples(biobank.subject, today=TODAY)
    baseline = next(v for v in visits if v.event.name == "baseline")
    return {row.expected.code: row.state for row in baseline.rows}


def test_before_the_visit_the_samples_are_awaited(biobank: Biobank) -> None:
    assert _states(biobank) == {
        "plasma": SampleState.AWAITED,
        "tumour": SampleState.AWAITED,
        "biopsy": SampleState.OPTIONAL,
    }


def test_after_the_visit_what_was_not_collected_is_missing(biobank: Biobank) -> None:
    biobank.visit()
    biobank.plasma()
    assert _states(biobank) == {
        "plasma": SampleState.COLLECTED,
        "tumour": SampleState.MISSING,
        "biopsy": SampleState.OPTIONAL,  # optional: never missing
    }


def test_missing_samples_are_listed_for_the_sites_one_sees(biobank: Biobank) -> None:
    biobank.visit()
    other = biobank.include(site="b")
    biobank.visit(other)
    biobank.plasma()
    total, rows = missing_samples(biobank.nurse, study=biobank.study, today=TODAY)
    assert total == 1
    assert [(r.subject, r.code, r.done_on) for r in rows] == [
        ("01-001", "tumour", date(2026, 1, 5))
    ]
    total, rows = missing_samples(biobank.statistician, study=biobank.study, today=TODAY)
    assert total == 3
    assert {(r.subject, r.code) for r in rows} == {
        ("01-001", "tumour"),
        ("02-001", "plasma"),
        ("02-001", "tumour"),
    }


def test_the_missing_list_takes_the_same_number_of_queries_for_more_subjects(
    biobank: Biobank,
) -> None:
    biobank.visit()
    with CaptureQueriesContext(connection) as few:
        missing_samples(biobank.statistician, study=biobank.study, today=TODAY)
    for _n in range(3):
        biobank.visit(biobank.include())
    with CaptureQueriesContext(connection) as more:
        total, _rows = missing_samples(biobank.statistician, study=biobank.study, today=TODAY)
    assert total == 8
    assert len(more.captured_queries) == len(few.captured_queries)


def test_the_overdue_page_shows_the_missing_samples(biobank: Biobank) -> None:
    biobank.visit()
    page = biobank.client(biobank.nurse).get(
        reverse("subjects:overdue", args=[biobank.study.identifier])
    )
    text = page.content.decode()
    assert 'id="overdue-section-samples"' in text
    assert "Plasma (ctDNA) — Baseline" in text
    assert "Tumour block — Baseline" in text


def test_the_casebook_shows_expected_vs_collected_on_the_visit(biobank: Biobank) -> None:
    biobank.visit()
    biobank.plasma()
    page = biobank.client(biobank.nurse).get(
        reverse("capture:casebook", args=[biobank.study.identifier, "01-001"])
    )
    text = page.content.decode()
    url = reverse("biobank:subject_samples", args=[biobank.study.identifier, "01-001"])
    assert f'<a class="visit-mark" href="{url}">Samples 1/3 · missing</a>' in text
