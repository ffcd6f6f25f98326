"""The exposure table of the safety report: per group (each arm for an unblinded reader, every
subject pooled for a blinded one) and product, the patients exposed, the duration of exposure,
the cumulative dose and the relative dose intensity (RDI).

Django-free: the rows come from the pharmacy's exposure (`carnet.pharmacy.exposure`) joined to
the analysis dataset's groups, so a blinded reader's table has no arm to show.
"""

from __future__ import annotations

from statistics import median, quantiles
from typing import Any

import polars as pl

from carnet.reports.derive import AnalysisDataset
from carnet.reports.results import Report, ReportSection, ReportTable

# The usual threshold of "full dose" in oncology's dose-intensity reporting.
FULL_INTENSITY = 0.85


def _numbers(values: pl.Series) -> list[float]:
    return [float(value) for value in values.drop_nulls().to_list()]


def _median_range(values: pl.Series, digits: int = 0) -> str:
    numbers = _numbers(values)
    if not numbers:
        return "—"
    return f"{median(numbers):.{digits}f} ({min(numbers):.{digits}f}–{max(numbers):.{digits}f})"


def _median_iqr(values: pl.Series) -> str:
    numbers = _numbers(values)
    if not numbers:
        return "—"
    # "inclusive": the linear interpolation between order statistics (numpy's default, type 7).
    q1, _q2, q3 = quantiles(numbers, n=4, method="inclusive") if len(numbers) > 1 else numbers * 3
    return f"{median(numbers):.2f} ({q1:.2f}–{q3:.2f})"


def exposure_section(dataset: AnalysisDataset) -> tuple[ReportSection, list[dict[str, Any]]]:
    """Return the exposure section and its numbers (one dict per group, product and unit)."""
    section = ReportSection("Exposure to the study treatment")
    exposure = dataset.exposure
    if exposure.is_empty():
        section.notes.append("No administration or dispensing recorded up to the cut-off.")
        return section, []
    rows: list[list[str]] = []
    data: list[dict[str, Any]] = []
    keys = exposure.select("group", "product", "unit", "source").unique().sort(pl.all())
    for group, product, unit, source in keys.iter_rows():
        mine = exposure.filter(
            (pl.col("group") == group)
            & (pl.col("product") == product)
            & (pl.col("unit") == unit)
            & (pl.col("source") == source)
        )
        rdi = mine["relative_dose_intensity"].drop_nulls()
        full = int((rdi >= FULL_INTENSITY).sum()) if rdi.len() else 0
        rows.append(
            [
                str(group),
                str(product),
                f"{unit} ({source})",
                str(mine.height),
                _median_range(mine["duration_days"]),
                _median_range(mine["cumulative_dose"], 1),
                _median_iqr(mine["relative_dose_intensity"]),
                f"{full} ({full / rdi.len() * 100:.1f}%)" if rdi.len() else "—",
            ]
        )
        data.append(
            {
                "group": group,
                "product": product,
                "unit": unit,
                "source": source,
                "subjects": mine.height,
                "rdi_median": median(_numbers(rdi)) if rdi.len() else None,
                "rdi_full": full,
            }
        )
    section.tables.append(
        ReportTable(
            "Exposure: duration, cumulative dose and relative dose intensity",
            [
                "Group",
                "Product",
                "Unit (source)",
                "N",
                "Duration, days: median (range)",
                "Cumulative dose: median (range)",
                "RDI: median (Q1–Q3)",
                f"RDI >= {FULL_INTENSITY:g}",
            ],
            rows,
            "RDI: the dose given over the protocol's dose. From the casebook's administrations "
            "(with a cycle length: per day from the first administration to the end of the last "
            "cycle), or, for a patient without any, from the pharmacy's dispensing minus the "
            "units returned unused.",
        )
    )
    section.values.append(("Patients exposed", str(exposure["subject"].n_unique())))
    return section, data


def with_exposure(report: Report, dataset: AnalysisDataset) -> Report:
    """Return the report with the exposure section appended (its numbers under ``exposure``)."""
    section, data = exposure_section(dataset)
    report.sections.append(section)
    report.data["exposure"] = data
    return report


def exposure_by_group(exposure: pl.DataFrame, frame: pl.DataFrame) -> pl.DataFrame:
    """Return the exposure rows of the analysed subjects with their group (arm or pooled)."""
    if exposure.is_empty() or frame.is_empty():
        return exposure.with_columns(pl.lit(None, pl.String).alias("group")).clear()
    return exposure.join(frame.select("subject", "group"), on="subject")


__all__ = ["FULL_INTENSITY", "exposure_by_group", "exposure_section", "with_exposure"]
