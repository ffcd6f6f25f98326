"""The laboratory values of a study as they stood at a cut-off, graded as the laboratory app
grades today's: the same report on the same cut-off gives the same shift tables whatever was
corrected or loaded after it.

- the values: the mapped items' last state at the cut-off, from the audit trail (interop's
  `form_values_at`, read in the same pass as the form datasets);
- the mapping (which items hold which analyte, the date, age and baseline settings) and the
  normal ranges: those of the last laboratory file loaded before the cut-off, as its
  `laboratory.file_loaded` event recorded them (a file without a mapping keeps the one before);
- the grading itself: the laboratory app's `graded_frame` (ranges by site, sex, age and
  date; form limits first; unit conversions; baselines; CTCAE v5.0).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import polars as pl

from carnet.audit.models import AuditEvent
from carnet.interop.models import Cutoff
from carnet.laboratory.models import LabItem, LabSettings
from carnet.laboratory.selectors import RANGE_SCHEMA, VALUE_SCHEMA, graded_frame, lab_needed
from carnet.studies.models import Study
from carnet.subjects.models import Subject


@dataclass(frozen=True)
class LabSetupAt:
    """The laboratory mapping and normal ranges in force at a cut-off."""

    mapped: list[LabItem]
    settings: LabSettings | None
    ranges: pl.DataFrame

    @property
    def needed(self) -> set[str]:
        return lab_needed(self.mapped, self.settings) if self.mapped else set()


def _day(text: str | None) -> date | None:
    return date.fromisoformat(text) if text else None


def _number(text: str | None) -> float | None:
    return None if text in (None, "") else float(str(text))


def lab_setup_at(study: Study, cutoff: Cutoff) -> LabSetupAt:
    """Return the mapping and ranges of the last laboratory files loaded up to the cut-off."""
    loads = (
        AuditEvent.objects.filter(
            chain=study.audit_chain, seq__lte=cutoff.seq, action="laboratory.file_loaded"
        )
        .order_by("seq")
        .values_list("new", flat=True)
    )
    ranges: list[dict[str, Any]] = []
    mapping: dict[str, Any] | None = None
    for new in loads:
        loaded = new or {}
        ranges = list(loaded.get("ranges") or [])
        if loaded.get("items"):
            mapping = loaded["items"]
    if mapping is None:
        return LabSetupAt([], None, pl.DataFrame(schema=RANGE_SCHEMA))
    mapped = [
        LabItem(
            study=study,
            item=row["item"],
            analyte=row["analyte"],
            unit=row.get("unit") or "",
            unit_item=row.get("unit_item") or "",
            uln_item=row.get("uln_item") or "",
            lln_item=row.get("lln_item") or "",
        )
        for row in mapping.get("items", [])
    ]
    settings = LabSettings(
        study=study,
        date_item=mapping.get("date_item") or "",
        age_item=mapping.get("age_item") or "",
        baseline_event=mapping.get("baseline_event") or "",
    )
    rows = [
        (
            number,
            row["analyte"],
            row.get("site") or "",
            row.get("sex") or "",
            row.get("age_min"),
            row.get("age_max"),
            _day(row.get("from")),
            _day(row.get("to")),
            row.get("unit") or "",
            _number(row.get("low")),
            _number(row.get("high")),
        )
        for number, row in enumerate(ranges)
    ]
    return LabSetupAt(mapped, settings, pl.DataFrame(rows, schema=RANGE_SCHEMA, orient="row"))


def lab_values_of_form(values: pl.DataFrame, form: str, needed: set[str]) -> pl.DataFrame:
    """Return a form's values at the cut-off (`form_values_at`) that the grading reads."""
    if not needed or values.is_empty():
        return pl.DataFrame()
    return values.filter(pl.col("item").is_in(sorted(needed)) & ~pl.col("removed")).select(
        "subject_id",
        "instance",
        "event",
        "occurrence",
        pl.lit(form).alias("form"),
        "repeat",
        "item",
        "row",
        "text",
    )


def graded_at(
    study: Study, setup: LabSetupAt, values: list[pl.DataFrame], subjects: pl.DataFrame
) -> pl.DataFrame:
    """Return the graded values (the laboratory app's columns) of the subjects given (the
    subject dataset at the cut-off: subject_id, subject, site)."""
    parts = [part for part in values if part.height]
    if not setup.mapped or not parts:
        return graded_frame(
            pl.DataFrame(schema=VALUE_SCHEMA),
            mapped=setup.mapped,
            settings=setup.settings,
            ranges=setup.ranges,
        )
    frame = pl.concat(parts)
    # A subject's sex is written at inclusion and never changes.
    sexes = pl.DataFrame(
        list(Subject.objects.filter(study=study).values_list("pk", "sex")),
        schema={"subject_id": pl.Int64, "sex": pl.String},
        orient="row",
    )
    frame = (
        frame.join(subjects.select("subject_id", "subject", "site"), on="subject_id")
        .join(sexes, on="subject_id", how="left")
        .with_columns(
            pl.col("text").cast(pl.Float64, strict=False).alias("number"),
            pl.col("text").str.to_date("%Y-%m-%d", strict=False).alias("day"),
        )
        .select(pl.col(name).cast(dtype) for name, dtype in VALUE_SCHEMA.items())
    )
    return graded_frame(frame, mapped=setup.mapped, settings=setup.settings, ranges=setup.ranges)
