"""The subject-level dataset at a cut-off: statuses, dates, the allocation, the arm only for the
unblinded, last news, death, end of treatment, deviations and the analysis populations, all
rebuilt from the audit trail (a later change leaves an export of the cut-off as it was)."""

from __future__ import annotations

import io
from datetime import date

import polars as pl
import pytest

from carnet.accounts.roles import Role
from carnet.interop.services import cutoff_create
from carnet.quality.deviation_selectors import per_protocol_population
from carnet.quality.deviations import deviation_declare, deviation_review
from carnet.subjects.services import news_record, subject_change_status, subject_change_treatment
from tests.accounts.personas import person
from tests.capture.conftest import include
from tests.interop.conftest import Exporting
from tests.interop.test_exports import entries, export

pytestmark = pytest.mark.django_db


def subjects_of(archive: bytes) -> dict[str, dict[str, object]]:
    frame = pl.read_parquet(io.BytesIO(entries(archive)["subjects.parquet"]))
    return {row["subject"]: row for row in frame.to_dicts()}


def test_the_subject_dataset_says_where_each_subject_stands_at_the_cutoff(
    exporting: Exporting,
) -> None:
    e = exporting
    study = e.world.study
    dora = person("dora", study=study, role=Role.DATA_MANAGER, sites=[None])
    randomised = e.subject
    subject_change_treatment(
        actor=e.entry, subject=randomised, status="on_treatment", on=date(2026, 1, 10)
    )
    subject_change_treatment(
        actor=e.entry,
        subject=randomised,
        status="off_treatment",
        on=date(2026, 2, 10),
        reason="toxicity",
    )
    major = deviation_declare(
        actor=e.entry,
        subject=randomised,
        description="Dose given without the safety labs",
        occurred_on=date(2026, 1, 20),
        deviation_class="major",
        category="dosing",
    )
    deviation_review(actor=dora, deviation=major, decision="confirmed")
    deviation_declare(
        actor=e.entry,
        subject=randomised,
        description="Visit a day late",
        occurred_on=date(2026, 1, 21),
        deviation_class="minor",
        category="visit_window",
    )
    subject_change_status(actor=e.entry, subject=randomised, status="deceased", on=date(2026, 3, 1))
    other = include(e.world, e.entry, on=date(2026, 1, 6))
    news_record(actor=e.entry, subject=other, news_on=date(2026, 2, 20), source="phone call")
    cutoff = cutoff_create(
        actor=e.unblinded, study=study, name="FINAL", reason="final", cut_on=date(2026, 4, 1)
    )
    archive = export(e, cutoff, "parquet", actor=e.unblinded, unblinded=True)
    rows = subjects_of(archive)
    first, second = rows[randomised.identifier], rows[other.identifier]
    assert first["study_status"] == "deceased"
    assert first["included_on"] == date(2026, 1, 5)
    assert first["randomised_on"] is not None
    assert first["allocation_number"] == 1
    assert first["arm"] == e.arm
    assert (first["died"], first["death_on"]) == (1, date(2026, 3, 1))
    assert first["last_news_on"] == date(2026, 3, 1)  # the death
    assert (first["end_of_treatment_on"], first["end_of_treatment_reason"]) == (
        date(2026, 2, 10),
        "toxicity",
    )
    assert (first["deviations_major"], first["deviations_minor"]) == (1, 0)
    assert first["deviations_pending"] == 1  # the minor one awaits review
    assert (first["itt"], first["per_protocol"], first["safety"]) == (1, 0, 1)
    assert (second["randomised_on"], second["arm"]) == (None, None)
    assert second["last_news_on"] == date(2026, 2, 20)
    assert (second["died"], second["itt"], second["per_protocol"], second["safety"]) == (0, 0, 0, 0)
    # The per-protocol population is quality's.
    population = per_protocol_population(study=study, actor=dora)
    assert sorted(s for s, row in rows.items() if row["per_protocol"]) == population.subjects
    assert sorted(s for s, row in rows.items() if row["itt"] and not row["per_protocol"]) == (
        population.excluded
    )
    # The blinded statistician's subject dataset has everything but the arm.
    blinded = subjects_of(export(e, cutoff, "parquet"))
    assert "arm" not in blinded[randomised.identifier]
    assert blinded[randomised.identifier]["allocation_number"] == 1
    # A later review changes nothing in the cut-off's export.
    deviation_review(actor=dora, deviation=major, decision="rejected", reason="labs were done")
    assert export(e, cutoff, "parquet", actor=e.unblinded, unblinded=True) == archive
