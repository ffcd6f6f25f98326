"""The DSMB report of a cut-off: the open session (pooled: accrual, conduct, pooled safety) and
the closed session (by arm: the primary endpoint against the SAP's group-sequential boundaries,
futility by beta spending, and safety by arm)."""

from __future__ import annotations

import math
from typing import Any

import polars as pl

from carnet.analysis import AnalysisInputError, logrank
from carnet.reports.derive import AnalysisDataset
from carnet.reports.design import design_sequential
from carnet.reports.exposure import with_exposure
from carnet.reports.results import (
    Report,
    ReportSection,
    ReportTable,
    conduct_report,
    pooled,
    safety_report,
    survival_section,
    with_laboratory_shift,
)

PRIMARY_PREFIX = {"overall_survival": "os", "progression_free_survival": "pfs"}


def _observed_z(dataset: AnalysisDataset, prefix: str, reference: str) -> tuple[float, int]:
    """Return the stratified log-rank Z (positive when the experimental arm does better) and the
    number of events."""
    frame = dataset.frame.filter(
        (pl.col("itt") == 1) & pl.col(f"{prefix}_time").is_not_null()
    ).with_columns(pl.col(f"{prefix}_event").cast(pl.Int8))
    strata = [s for s in dataset.plan.strata if s in frame.columns]
    frame = frame.with_columns(pl.col(s).fill_null("missing") for s in strata)
    test = logrank(
        frame, group="group", time=f"{prefix}_time", event=f"{prefix}_event", strata=strata
    )
    other = next(i for i, g in enumerate(test.groups) if g != reference)
    benefit = test.observed[other] < test.expected[other]
    z = math.sqrt(test.chi_square) * (1 if benefit else -1)
    return z, int(sum(test.observed))


def _fractions(planned: list[float], observed: float) -> list[float]:
    """Return the looks as they now stand: this one at the observed information, then the
    planned ones after it (Lan-DeMets: spending follows the information actually reached)."""
    now = min(1.0, observed)
    return [now, *[t for t in planned if t > now + 0.01]]


def monitoring_section(dataset: AnalysisDataset, data: dict[str, Any]) -> ReportSection:
    """Return the group-sequential monitoring of the primary endpoint (closed session)."""
    section = ReportSection("Group-sequential monitoring of the primary endpoint")
    plan = dataset.plan
    design = plan.design
    prefix = PRIMARY_PREFIX.get(plan.primary_endpoint or "")
    if plan.method != "group-sequential" or prefix is None or "events" not in design:
        section.notes.append(
            "The statistical plan states no group-sequential design on a time-to-event endpoint."
        )
        return section
    reference = dataset.settings.reference_arm or sorted(dataset.groups)[0]
    try:
        z, events = _observed_z(dataset, prefix, reference)
    except AnalysisInputError as refused:
        section.notes.append(str(refused))
        return section
    planned = [float(t) for t in design["information_fractions"]]
    fraction = events / int(design["events"])
    looks = _fractions(planned, fraction)
    result = design_sequential(
        information_fractions=looks,
        alpha=float(design.get("alpha", 0.025)),
        power=float(design.get("power", 0.9)),
        efficacy=design.get("efficacy_spending", "obrien-fleming"),
        efficacy_parameter=design.get("efficacy_parameter"),
        futility=design.get("futility_spending"),
        futility_parameter=design.get("futility_parameter"),
        binding=bool(design.get("binding", False)),
        fixed_size=None,
    )
    upper = float(result.rows[0][1])
    lower = float(result.rows[0][2]) if result.rows[0][2] != "—" else None
    if z >= upper:
        decision = "efficacy boundary crossed"
    elif lower is not None and z < lower:
        decision = "futility boundary crossed (non-binding: the DSMB weighs it)"
    else:
        decision = "continue: no boundary crossed"
    section.values += [
        ("Events", f"{events} of {design['events']} planned (information {fraction:.1%})"),
        (
            "Observed Z (stratified log-rank)",
            f"{z:.3f} (positive favours the arm against {reference})",
        ),
        ("Efficacy bound at this look", f"{upper:.3f}"),
        ("Futility bound at this look", f"{lower:.3f}" if lower is not None else "none"),
        ("Decision", decision),
    ]
    section.tables.append(
        ReportTable("Boundaries at the information reached", result.columns, result.rows)
    )
    section.conventions += result.conventions
    data["monitoring"] = {
        "events": events,
        "information": fraction,
        "z": z,
        "upper": upper,
        "lower": lower,
        "decision": decision,
        "looks": looks,
    }
    return section


def open_session(dataset: AnalysisDataset, subjects: pl.DataFrame, **conduct: Any) -> Report:
    """Return the open session: accrual, conduct and safety, all subjects pooled."""
    together = pooled(dataset)
    report = conduct_report(together, subjects, **conduct)
    safety = with_exposure(with_laboratory_shift(safety_report(together), together), together)
    report.sections += safety.sections
    report.data["safety"] = safety.data
    return Report("dsmb-open", "DSMB report, open session (pooled)", report.sections, report.data)


def closed_session(dataset: AnalysisDataset) -> Report:
    """Return the closed session: primary endpoint by arm with its boundaries, safety by arm."""
    data: dict[str, Any] = {}
    sections = []
    prefix = PRIMARY_PREFIX.get(dataset.plan.primary_endpoint or "", "os")
    if prefix == "pfs" and dataset.progression_free is None:
        prefix = "os"
    section, numbers = survival_section(dataset, prefix)
    sections.append(section)
    data[prefix] = numbers
    sections.append(monitoring_section(dataset, data))
    safety = with_exposure(with_laboratory_shift(safety_report(dataset), dataset), dataset)
    sections += safety.sections
    data["safety"] = safety.data
    return Report("dsmb-closed", "DSMB report, closed session (by arm)", sections, data)
