"""The statistical reports: survival, response, safety and trial conduct, built from the
analysis dataset of a cut-off with `carnet.analysis`, as sections of tables, figures, values and
the conventions each used (only those).

Django-free apart from the translations of fixed words: the reports of a blinded reader are
built from a dataset without an arm, so nothing here can show one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

import polars as pl

from carnet.analysis import (
    AnalysisInputError,
    AnalysisSettings,
    BestOverallResponses,
    Convention,
    KaplanMeierResult,
    Population,
    adverse_events_table,
    cox,
    kaplan_meier,
    logrank,
    objective_response_rate,
)
from carnet.reports.derive import POOLED, RESPONSES, AnalysisDataset
from carnet.reports.figures import (
    Figure,
    accrual_figure,
    forest_figure,
    kaplan_meier_figure,
    spider_figure,
    swimmer_figure,
    waterfall_figure,
)

KINDS = ("survival", "response", "safety", "conduct")
ENDPOINT_TITLES = {"os": "Overall survival", "pfs": "Progression-free survival"}


@dataclass(frozen=True)
class ReportTable:
    title: str
    columns: list[str]
    rows: list[list[str]]
    notes: str = ""


@dataclass
class ReportSection:
    """One part of a report: its tables, figures, labelled values and conventions used."""

    title: str
    tables: list[ReportTable] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    values: list[tuple[str, str]] = field(default_factory=list)
    conventions: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    consort: list[tuple[str, list[tuple[str, str]]]] = field(default_factory=list)


@dataclass
class Report:
    """A report: its kind, title, sections and the numbers it printed (for the API and tests)."""

    kind: str
    title: str
    sections: list[ReportSection]
    data: dict[str, Any] = field(default_factory=dict)

    def figure(self, name: str) -> Figure | None:
        for section in self.sections:
            for figure in section.figures:
                if figure.name == name:
                    return figure
        return None


def _time(value: float | None) -> str:
    return "NR" if value is None else f"{value:g}"


def _rate(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def _describe(settings: AnalysisSettings, *conventions: Convention) -> list[str]:
    return [line for line in settings.describe(*conventions).splitlines() if line]


def _ticks(maximum: float, step: int = 90) -> list[float]:
    """Return the times of the at-risk table: every ``step`` days, past the longest follow-up."""
    top = max(step, int(maximum) + step)
    return [float(t) for t in range(0, top + 1, step)]


def _km(
    frame: pl.DataFrame, time: str, event: str, settings: AnalysisSettings, at: Sequence[float]
) -> KaplanMeierResult:
    return kaplan_meier(
        frame, time=time, event=event, group="group", at=at, settings=settings, time_unit="days"
    )


def _analysed(dataset: AnalysisDataset, prefix: str) -> pl.DataFrame:
    """Return the ITT subjects with the endpoint derived."""
    return dataset.frame.filter(
        (pl.col("itt") == 1) & pl.col(f"{prefix}_time").is_not_null()
    ).with_columns(pl.col(f"{prefix}_event").cast(pl.Int8))


def _strata(dataset: AnalysisDataset, frame: pl.DataFrame) -> tuple[pl.DataFrame, list[str]]:
    strata = [s for s in dataset.plan.strata if s in frame.columns]
    return frame.with_columns(pl.col(s).fill_null("missing") for s in strata), strata


def _comparison(
    dataset: AnalysisDataset, frame: pl.DataFrame, section: ReportSection, data: dict[str, Any]
) -> None:
    """Add the stratified log-rank test and the Cox hazard ratio (unblinded readers only)."""
    settings = dataset.settings
    frame, strata = _strata(dataset, frame)
    prefix = data["prefix"]
    time, event = f"{prefix}_time", f"{prefix}_event"
    try:
        test = logrank(frame, group="group", time=time, event=event, strata=strata)
        model = cox(frame, time=time, event=event, arm="group", strata=strata, settings=settings)
    except AnalysisInputError as refused:
        section.notes.append(str(refused))
        return
    (term,) = model.terms
    label = f"stratified by {', '.join(strata)}" if strata else "unstratified"
    section.values += [
        (f"Log-rank test ({label})", f"chi-square {test.chi_square:.2f}, p = {test.p_value:.4g}"),
        (
            f"Hazard ratio {term.term.removeprefix('group=')} vs {model.reference_arm} "
            f"(Cox, {label})",
            f"{term.hazard_ratio:.3f} ({term.lower:.3f}-{term.upper:.3f}), p = {term.p_value:.4g}",
        ),
    ]
    section.conventions += _describe(settings, Convention.COX_TIES, Convention.REFERENCE_ARM)
    data |= {
        "logrank_chi_square": test.chi_square,
        "logrank_p": test.p_value,
        "strata": strata,
        "hazard_ratio": term.hazard_ratio,
        "hazard_ratio_lower": term.lower,
        "hazard_ratio_upper": term.upper,
        "reference_arm": model.reference_arm,
    }
    _forest(dataset, frame, section, data)


def _forest(
    dataset: AnalysisDataset, frame: pl.DataFrame, section: ReportSection, data: dict[str, Any]
) -> None:
    prefix = data["prefix"]
    rows = [
        (
            "All patients",
            data["hazard_ratio"],
            data["hazard_ratio_lower"],
            data["hazard_ratio_upper"],
        )
    ]
    for item in dataset.plan.subgroups:
        if item not in frame.columns:
            continue
        for (level,), part in sorted(
            frame.filter(pl.col(item).is_not_null()).partition_by(item, as_dict=True).items()
        ):
            try:
                model = cox(
                    part,
                    time=f"{prefix}_time",
                    event=f"{prefix}_event",
                    arm="group",
                    settings=dataset.settings,
                )
            except AnalysisInputError:
                section.notes.append(
                    f"Subgroup {item} = {level}: too few events for a hazard ratio."
                )
                continue
            term = model.terms[0]
            rows.append(
                (f"{item}: {level} (n={part.height})", term.hazard_ratio, term.lower, term.upper)
            )
    data["forest"] = [list(row) for row in rows]
    section.tables.append(
        ReportTable(
            "Hazard ratio by subgroup (unstratified Cox within each subgroup)",
            ["Subgroup", "HR", "CI"],
            [[label, f"{hr:.3f}", f"{lo:.3f}-{hi:.3f}"] for label, hr, lo, hi in rows],
        )
    )
    section.figures.append(
        forest_figure(
            rows,
            name=f"{prefix}_forest",
            title=f"{ENDPOINT_TITLES[prefix]}: hazard ratio by subgroup",
            reference=str(data["reference_arm"]),
        )
    )


def survival_section(dataset: AnalysisDataset, prefix: str) -> tuple[ReportSection, dict[str, Any]]:
    """Return the Kaplan-Meier section of one endpoint (``os`` or ``pfs``) with its numbers."""
    title = ENDPOINT_TITLES[prefix]
    section = ReportSection(title)
    data: dict[str, Any] = {"prefix": prefix}
    frame = _analysed(dataset, prefix)
    if frame.is_empty():
        section.notes.append("No subject of the ITT population has this endpoint yet.")
        return section, data
    settings = dataset.settings
    landmarks = [float(day) for day in dataset.plan.landmarks]
    ticks = _ticks(float(frame[f"{prefix}_time"].cast(pl.Float64).max() or 0))  # type: ignore[arg-type]
    km = _km(frame, f"{prefix}_time", f"{prefix}_event", settings, sorted({*ticks, *landmarks}))
    level = f"{settings.confidence_level * 100:g}%"
    rows, medians = [], {}
    for curve in km.curves:
        at = dict(
            zip(curve.at_times["time"].to_list(), curve.at_times.rows(named=True), strict=True)
        )
        marks = [
            f"{_rate(at[d]['survival'])} ({_rate(at[d]['lower'])}-{_rate(at[d]['upper'])})"
            for d in landmarks
        ]
        rows.append(
            [str(curve.group), str(curve.subjects), str(curve.events), str(curve.median), *marks]
        )
        medians[str(curve.group)] = {
            "subjects": curve.subjects,
            "events": curve.events,
            "median": curve.median.time,
            "lower": curve.median.lower,
            "upper": curve.median.upper,
            "landmarks": {str(int(d)): at[d]["survival"] for d in landmarks},
        }
    section.tables.append(
        ReportTable(
            f"{title}: Kaplan-Meier estimates (ITT, days from randomisation)",
            ["Group", "N", "Events", f"Median ({level} CI)"]
            + [f"S({int(d)} days) ({level} CI)" for d in landmarks],
            rows,
        )
    )
    section.figures.append(
        kaplan_meier_figure(km, name=f"{prefix}_km", title=title, ticks=ticks, unit="days")
    )
    section.conventions += _describe(
        settings, Convention.CONFIDENCE_LEVEL, Convention.INTERVAL_TRANSFORM
    )
    if prefix == "pfs":
        section.conventions += _describe(settings, Convention.PROGRESSION_FREE)
    data["curves"] = medians
    if dataset.by_arm and len(km.curves) > 1:
        _comparison(dataset, frame, section, data)
    section.conventions = list(dict.fromkeys(section.conventions))
    return section, data


def survival_report(dataset: AnalysisDataset) -> Report:
    """Return the survival report: OS and (where the plan has assessments) PFS."""
    sections, data = [], {}
    prefixes = ["pfs", "os"] if dataset.progression_free is not None else ["os"]
    for prefix in prefixes:
        section, numbers = survival_section(dataset, prefix)
        sections.append(section)
        data[prefix] = numbers
    return Report("survival", "Survival", sections, data)


# --- response ----------------------------------------------------------------------------


def _response_table(
    dataset: AnalysisDataset, itt: pl.DataFrame
) -> tuple[ReportTable, dict[str, Any]]:
    groups = sorted(itt["group"].unique().to_list())
    assert dataset.best_response is not None
    rows: list[list[str]] = []
    data: dict[str, dict[str, Any]] = {}
    level = f"{dataset.settings.confidence_level * 100:g}%"
    counts_by_group: dict[str, dict[str, int]] = {}
    for group in groups:
        members = itt.filter(pl.col("group") == group)["subject"].to_list()
        rate = objective_response_rate(dataset.best_response, members, settings=dataset.settings)
        counts_by_group[group] = rate.counts
        data[group] = {
            "subjects": rate.subjects,
            "responders": rate.responders,
            "rate": rate.rate,
            "lower": rate.lower,
            "upper": rate.upper,
            "counts": dict(rate.counts),
        }
    for category in ("CR", "PR", "SD", "NON-CR/NON-PD", "PD", "NE"):
        row = [category]
        for group in groups:
            n = int(data[group]["subjects"])
            count = counts_by_group[group].get(category, 0)
            row.append(f"{count} ({count / n * 100:.1f}%)")
        rows.append(row)
    rows.append(
        ["ORR (CR + PR)"]
        + [
            f"{data[g]['responders']}/{data[g]['subjects']} = {data[g]['rate'] * 100:.1f}% "
            f"({data[g]['lower'] * 100:.1f}-{data[g]['upper'] * 100:.1f})"
            for g in groups
        ]
    )
    table = ReportTable(
        f"Best overall response (ITT; ORR with exact {level} Clopper-Pearson interval)",
        ["Response", *[f"{g} (N={data[g]['subjects']})" for g in groups]],
        rows,
    )
    return table, data


def _simon(
    dataset: AnalysisDataset, itt: pl.DataFrame
) -> tuple[list[tuple[str, str]], dict[str, Any]]:
    """Return Simon's stage decisions on the responses in order of inclusion."""
    design = dataset.plan.design
    r1, n1 = design["stage_1"]
    r, n = design["final"]
    assert dataset.best_response is not None
    best = dict(dataset.best_response.frame.select("subject", "best_response").iter_rows())
    ordered = itt.sort("reference", "subject")["subject"].to_list()
    responders = [best.get(s) in ("CR", "PR") for s in ordered]
    first = sum(responders[:n1])
    total = sum(responders[:n])
    if len(ordered) < n1 and first <= r1:
        stage_1 = (
            f"ongoing: {len(ordered)} of {n1} patients, {first} responses (more than {r1} needed)"
        )
        decision1 = "ongoing"
    elif first > r1:
        stage_1 = f"passed: {first} responses among the first {n1} patients (more than {r1} needed)"
        decision1 = "passed"
    else:
        stage_1 = f"stop for futility: {first} responses among {n1} patients (at most {r1})"
        decision1 = "futility"
    if decision1 == "futility":
        final, decision = "not reached (stopped at stage 1)", "futility"
    elif len(ordered) < n and total <= r:
        final = f"ongoing: {len(ordered)} of {n} patients, {total} responses (more than {r} needed)"
        decision = "ongoing"
    elif total > r:
        final = (
            f"active: {total} responses among {min(n, len(ordered))} patients (more than {r}): "
            "H0 rejected"
        )
        decision = "active"
    else:
        final = f"not active: {total} responses among {n} patients (at most {r})"
        decision = "inactive"
    values = [
        (
            "Simon design",
            f"{design.get('kind', 'optimal')}, stage 1 r1/n1 = {r1}/{n1}, final r/n = {r}/{n}",
        ),
        ("Stage 1", stage_1),
        ("Final decision", final),
    ]
    return values, {
        "stage_1": decision1,
        "final": decision,
        "stage_1_responses": first,
        "responses": total,
    }


def _waterfall(dataset: AnalysisDataset, best: BestOverallResponses) -> Figure | None:
    changes = dataset.assessments.filter(pl.col("change").is_not_null())
    if changes.is_empty():
        return None
    bor = dict(best.frame.select("subject", "best_response").iter_rows())
    lowest = changes.group_by("subject").agg(pl.col("change").min())
    rows = [(s, float(c), bor.get(s) or "NE") for s, c in lowest.iter_rows()]
    return waterfall_figure(
        rows, name="waterfall", title="Best change in the sum of target diameters"
    )


def _spider(dataset: AnalysisDataset, best: BestOverallResponses) -> Figure | None:
    """Return the spider plot: each patient's change from baseline over time, from the
    assessments after their reference date (the same changes the waterfall takes the best of)."""
    changes = dataset.assessments.filter(pl.col("change").is_not_null()).join(
        dataset.frame.select("subject", "reference"), on="subject"
    )
    changes = changes.filter(pl.col("date") > pl.col("reference"))
    if changes.is_empty():
        return None
    bor = dict(best.frame.select("subject", "best_response").iter_rows())
    rows = []
    ordered = changes.sort("subject", "date").with_columns(
        (pl.col("date") - pl.col("reference")).dt.total_days().alias("day")
    )
    for (subject,), part in ordered.partition_by(
        "subject", as_dict=True, maintain_order=True
    ).items():
        points = [
            (int(day), float(change)) for day, change in part.select("day", "change").iter_rows()
        ]
        rows.append((str(subject), points, bor.get(subject) or "NE"))
    return spider_figure(
        rows, name="spider", title="Change in the sum of target diameters over time"
    )


def _swimmer(dataset: AnalysisDataset, cut_on: date) -> Figure | None:
    treated = dataset.frame.filter(pl.col("first_dose").is_not_null()).sort("first_dose").head(60)
    if treated.is_empty():
        return None
    visits = dataset.assessments
    rows = []
    columns = ("subject", "first_dose", "last_dose", "treatment_ended", "death")
    for subject, first, last, ended, death in treated.select(*columns).iter_rows():
        ongoing = not ended and death is None
        end = cut_on if ongoing or last is None else last
        mine = visits.filter(pl.col("subject") == subject)
        points = [
            ((d - first).days, r)
            for d, r in mine.select("date", "response").iter_rows()
            if d >= first
        ]
        rows.append((subject, max(0, (end - first).days), bool(ongoing), points))
    return swimmer_figure(
        rows, name="swimmer", title="Time on treatment and responses (first 60 treated)"
    )


def response_report(dataset: AnalysisDataset, *, cut_on: date) -> Report:
    """Return the response report: BOR table, ORR, duration of response, Simon decisions."""
    section = ReportSection("Tumour response (RECIST 1.1)")
    report = Report("response", "Response", [section])
    if dataset.best_response is None:
        section.notes.append("The statistical plan declares no tumour assessments.")
        return report
    itt = dataset.frame.filter(pl.col("itt") == 1)
    if itt.is_empty():
        section.notes.append("No subject in the ITT population yet.")
        return report
    table, data = _response_table(dataset, itt)
    section.tables.append(table)
    report.data["orr"] = data
    section.conventions += _describe(
        dataset.settings, Convention.CONFIDENCE_LEVEL, Convention.RESPONSE
    )
    responders = (
        dataset.frame.filter(pl.col("dor_time").is_not_null())
        if "dor_time" in dataset.frame.columns
        else pl.DataFrame()
    )
    if responders.height:
        km = _km(
            responders.with_columns(pl.col("dor_event").cast(pl.Int8)),
            "dor_time",
            "dor_event",
            dataset.settings,
            (),
        )
        section.tables.append(
            ReportTable(
                "Duration of response (from the first CR/PR to progression or death; censored at "
                "the last adequate assessment)",
                ["Group", "Responders", "Events", "Median (CI), days"],
                [[str(c.group), str(c.subjects), str(c.events), str(c.median)] for c in km.curves],
            )
        )
        report.data["duration_of_response"] = {str(c.group): c.median.time for c in km.curves}
        section.conventions += _describe(dataset.settings, Convention.INTERVAL_TRANSFORM)
    if dataset.plan.method == "simon-two-stage" and "stage_1" in dataset.plan.design:
        values, decisions = _simon(dataset, itt)
        section.values += values
        report.data["simon"] = decisions
    for figure in (
        _waterfall(dataset, dataset.best_response),
        _spider(dataset, dataset.best_response),
        _swimmer(dataset, cut_on),
    ):
        if figure is not None:
            section.figures.append(figure)
    section.conventions = list(dict.fromkeys(section.conventions))
    return report


# --- safety ------------------------------------------------------------------------------


def _safety_inputs(dataset: AnalysisDataset) -> tuple[Population, pl.DataFrame]:
    treated = dataset.frame.filter(pl.col("treated") == 1)
    population = Population(
        "Safety",
        "subjects with a first dose recorded, by arm"
        if dataset.by_arm
        else "subjects with a first dose recorded, pooled",
        treated.select("subject", pl.col("group").alias("arm")),
    )
    exposures = treated.select(
        "subject", "first_dose", pl.coalesce("last_dose", "first_dose").alias("last_dose")
    )
    return population, exposures


def _soc_pt_table(
    section: ReportSection,
    report: Report,
    events: pl.DataFrame,
    exposures: pl.DataFrame,
    population: Population,
    settings: AnalysisSettings,
) -> None:
    """Add the table by MedDRA SOC and PT (the events whose verbatim is coded)."""
    if "pt" not in events.columns:
        return
    coded = events.filter(pl.col("pt").is_not_null() & pl.col("soc").is_not_null())
    uncoded = events.height - coded.height
    if coded.is_empty():
        section.notes.append(
            "No adverse event term is coded to MedDRA yet: no table by SOC and PT."
        )
        return
    table = adverse_events_table(
        coded.select("subject", "soc", pl.col("pt").alias("term"), "grade", "onset"),
        exposures,
        population,
        settings=settings,
    )
    notes = table.notes + (f" {uncoded} events not coded yet are left out." if uncoded else "")
    section.tables.append(
        ReportTable(
            "Treatment-emergent adverse events by MedDRA SOC and PT, worst CTCAE grade",
            ["SOC", "PT", "Group", "N", "Any grade", "Grade >= 3", "G1", "G2", "G3", "G4", "G5"],
            [[str(v) for v in row] for row in table.frame.rows()],
            notes,
        )
    )
    report.data["soc_pt"] = table.frame.to_dicts()


def safety_report(dataset: AnalysisDataset) -> Report:
    """Return the adverse-event tables: worst grade per term, grade >= 3, serious, related,
    leading to discontinuation (treatment-emergent, safety population)."""
    section = ReportSection("Adverse events (CTCAE)")
    report = Report("safety", "Safety", [section])
    population, exposures = _safety_inputs(dataset)
    if population.size() == 0:
        section.notes.append("No subject has a first dose recorded yet.")
        return report
    events = dataset.adverse_events.select(
        "subject", "term", "grade", "onset", "serious", "related", "discontinued"
    )
    settings = dataset.settings
    main = adverse_events_table(
        events.select("subject", "term", "grade", "onset"), exposures, population, settings=settings
    )
    columns = ["Term", "Group", "N", "Any grade", "Grade >= 3", "G1", "G2", "G3", "G4", "G5"]
    section.tables.append(
        ReportTable(
            "Treatment-emergent adverse events by worst CTCAE grade per term",
            columns,
            [[str(v) for v in row] for row in main.frame.rows()],
            main.notes,
        )
    )
    report.data["worst_grade"] = main.frame.to_dicts()
    _soc_pt_table(section, report, dataset.adverse_events, exposures, population, settings)
    for flag, title in (
        ("serious", "Serious adverse events"),
        ("related", "Adverse events related to the study treatment"),
        ("discontinued", "Adverse events leading to discontinuation"),
    ):
        subset = events.filter(pl.col(flag)).select("subject", "term", "grade", "onset")
        table = adverse_events_table(subset, exposures, population, settings=settings)
        section.tables.append(
            ReportTable(
                title,
                ["Term", "Group", "N", "Any grade", "Grade >= 3"],
                [[str(v) for v in row[:5]] for row in table.frame.rows()],
            )
        )
        report.data[flag] = table.frame.select("term", "arm", "any_grade").to_dicts()
    section.values.append(("Safety population", str(population)))
    section.conventions += _describe(settings, Convention.TREATMENT_EMERGENT)
    return report


# --- conduct -----------------------------------------------------------------------------


def conduct_report(
    dataset: AnalysisDataset,
    subjects: pl.DataFrame,
    *,
    target: int | None,
    screened_out: dict[str, int],
) -> Report:
    """Return accrual by site against the target, the CONSORT flow and follow-up completeness."""
    accrual = ReportSection("Accrual")
    report = Report("conduct", "Trial conduct", [accrual])
    included = subjects.filter(pl.col("included_on").is_not_null())
    by_site: dict[str, list[date]] = {}
    for site, day in included.select("site", "included_on").iter_rows():
        by_site.setdefault(str(site), []).append(day)
    rows = [
        [site, str(len(days)), min(days).isoformat(), max(days).isoformat()]
        for site, days in sorted(by_site.items())
    ]
    rows.append(["Total", str(included.height), "", ""])
    accrual.tables.append(
        ReportTable("Inclusions by site", ["Site", "Included", "First", "Latest"], rows)
    )
    if target:
        accrual.values.append(
            ("Target", f"{included.height} of {target} ({included.height / target * 100:.1f}%)")
        )
    if by_site:
        accrual.figures.append(
            accrual_figure(
                by_site, target=target, name="accrual", title="Cumulative inclusions by site"
            )
        )
    report.data["accrual"] = {site: len(days) for site, days in by_site.items()}
    report.sections.append(_consort(dataset, subjects, screened_out, report.data))
    report.sections.append(_follow_up(dataset, report.data))
    return report


def _consort(
    dataset: AnalysisDataset,
    subjects: pl.DataFrame,
    screened_out: dict[str, int],
    data: dict[str, Any],
) -> ReportSection:
    section = ReportSection("CONSORT flow")
    not_included = sum(screened_out.values())
    included = subjects.filter(pl.col("included_on").is_not_null())
    allocated = dataset.frame.filter(pl.col("itt") == 1)
    boxes: list[tuple[str, list[tuple[str, str]]]] = [
        (
            "Enrolment",
            [
                ("Assessed for eligibility", str(included.height + not_included)),
                ("Not included", str(not_included)),
            ]
            + [
                (f"  {reason}", str(count))
                for reason, count in Counter(screened_out).most_common(5)
            ]
            + [("Included", str(included.height))],
        ),
    ]
    flow: dict[str, Any] = {"assessed": included.height + not_included, "included": included.height}
    for group in sorted(allocated["group"].unique().to_list()):
        mine = allocated.filter(pl.col("group") == group)
        ids = mine["subject"].to_list()
        own = subjects.filter(pl.col("subject").is_in(ids))
        stopped = own.filter(pl.col("end_of_treatment_on").is_not_null())
        reasons = Counter(
            str(r or "not stated") for r in stopped["end_of_treatment_reason"].to_list()
        )
        status = Counter(str(s) for s in own["study_status"].to_list())
        lines = [
            ("Allocated" if dataset.by_arm else "Allocated (all arms pooled)", str(mine.height)),
            ("Received the allocated treatment", str(int(mine["treated"].sum()))),
            ("Discontinued treatment", str(stopped.height)),
            *[(f"  {reason}", str(count)) for reason, count in reasons.most_common(5)],
            *[(f"Study status: {name}", str(count)) for name, count in sorted(status.items())],
            ("Analysed (ITT)", str(mine.height)),
            ("Analysed (per protocol)", str(int(mine["per_protocol"].sum()))),
            ("Analysed (safety)", str(int(mine["treated"].sum()))),
        ]
        boxes.append((str(group), lines))
        flow[str(group)] = {
            "allocated": mine.height,
            "treated": int(mine["treated"].sum()),
            "discontinued": stopped.height,
        }
    section.consort = boxes
    data["consort"] = flow
    return section


def _follow_up(dataset: AnalysisDataset, data: dict[str, Any]) -> ReportSection:
    """Follow-up completeness: median follow-up by reverse Kaplan-Meier (death censors)."""
    section = ReportSection("Follow-up")
    frame = dataset.frame.filter(pl.col("os_time").is_not_null() & (pl.col("itt") == 1))
    if frame.is_empty():
        section.notes.append("No subject to follow yet.")
        return section
    reverse = frame.with_columns((1 - pl.col("os_event").cast(pl.Int8)).alias("followed"))
    km = _km(reverse, "os_time", "followed", dataset.settings, ())
    section.tables.append(
        ReportTable(
            "Median follow-up by reverse Kaplan-Meier (days; a death censors follow-up)",
            ["Group", "N", "Median follow-up (CI)"],
            [[str(c.group), str(c.subjects), str(c.median)] for c in km.curves],
        )
    )
    data["follow_up"] = {str(c.group): c.median.time for c in km.curves}
    section.conventions += _describe(
        dataset.settings, Convention.CONFIDENCE_LEVEL, Convention.INTERVAL_TRANSFORM
    )
    return section


def pooled(dataset: AnalysisDataset) -> AnalysisDataset:
    """Return the dataset with every subject in one group (the DSMB's open session)."""
    return replace(
        dataset,
        frame=dataset.frame.with_columns(pl.lit(POOLED).alias("group")),
        adverse_events=dataset.adverse_events.with_columns(pl.lit(POOLED).alias("group")),
        assessments=dataset.assessments.with_columns(pl.lit(POOLED).alias("group")),
        laboratory=dataset.laboratory.with_columns(pl.lit(POOLED).alias("group"))
        if dataset.laboratory.width
        else dataset.laboratory,
        exposure=dataset.exposure.with_columns(pl.lit(POOLED).alias("group"))
        if dataset.exposure.width
        else dataset.exposure,
        by_arm=False,
    )


__all__ = [
    "KINDS",
    "RESPONSES",
    "Report",
    "ReportSection",
    "ReportTable",
    "conduct_report",
    "pooled",
    "response_report",
    "safety_report",
    "survival_report",
]


# --- laboratory shift tables (kept apart from the adverse-event tables above) ------------

SHIFT_GRADES = ("0", "1", "2", "3", "4", "Missing")


def _shift_category(column: str) -> pl.Expr:
    return pl.col(column).cast(pl.String).fill_null("Missing")


def laboratory_shift_section(dataset: AnalysisDataset) -> tuple[ReportSection, dict[str, Any]]:
    """Return the laboratory grade shift tables: per lab test and group (arm, or every subject
    pooled), the safety population's subjects counted by baseline CTCAE grade against their
    worst grade after the first dose."""
    section = ReportSection("Laboratory: CTCAE grade shift from baseline")
    treated = dataset.frame.filter(pl.col("treated") == 1).select("subject", "group", "first_dose")
    values = dataset.laboratory
    if treated.is_empty() or values.is_empty():
        section.notes.append("No graded laboratory value in the safety population.")
        return section, {}
    values = values.select("subject", "analyte", "sampled_on", "grade").join(
        treated.select("subject", "first_dose"), on="subject"
    )
    baseline = (
        values.filter(pl.col("sampled_on") <= pl.col("first_dose"))
        .sort("subject", "analyte", "sampled_on")
        .group_by("subject", "analyte")
        .agg(pl.col("grade").last().alias("baseline"))
    )
    worst = (
        values.filter(pl.col("sampled_on") > pl.col("first_dose"))
        .group_by("subject", "analyte")
        .agg(pl.col("grade").max().alias("worst"))
    )
    groups = sorted(treated["group"].unique().to_list())
    data: dict[str, Any] = {}
    for analyte in sorted(values["analyte"].unique().to_list()):
        frame = (
            treated.select("subject", "group")
            .join(baseline.filter(pl.col("analyte") == analyte), on="subject", how="left")
            .join(worst.filter(pl.col("analyte") == analyte), on="subject", how="left")
            .select("group", _shift_category("baseline"), _shift_category("worst"))
        )
        counts = {
            (group, base, worst_grade): n
            for group, base, worst_grade, n in frame.group_by("group", "baseline", "worst")
            .len()
            .iter_rows()
        }
        rows = []
        shift: dict[str, dict[str, dict[str, int]]] = {}
        for group in groups:
            total_group = sum(n for (g, _b, _w), n in counts.items() if g == group)
            for base in SHIFT_GRADES:
                line = [counts.get((group, base, w), 0) for w in SHIFT_GRADES]
                shift.setdefault(group, {})[base] = dict(zip(SHIFT_GRADES, line, strict=True))
                rows.append([group, base, *[str(n) for n in line], str(sum(line))])
            rows.append([group, "Total", "", "", "", "", "", "", str(total_group)])
        data[analyte] = shift
        section.tables.append(
            ReportTable(
                f"{analyte}: baseline grade against the worst grade after the first dose",
                ["Group", "Baseline grade", *[f"Worst {g}" for g in SHIFT_GRADES], "N"],
                rows,
            )
        )
    section.notes.append(
        "Safety population (a first dose recorded). Baseline: the last value sampled on or before "
        "the first dose; worst: the highest grade sampled after it, up to the cut-off date. "
        "CTCAE v5.0 grades as the laboratory listing computes them (the study's ranges and "
        "units); a value that cannot be graded, or no value, counts as Missing."
    )
    section.values.append(("Laboratory tests", str(len(data))))
    return section, data


def with_laboratory_shift(report: Report, dataset: AnalysisDataset) -> Report:
    """Return the report with the laboratory shift tables appended (their numbers under
    ``lab_shift``)."""
    section, data = laboratory_shift_section(dataset)
    report.sections.append(section)
    report.data["lab_shift"] = data
    return report


__all__ += ["SHIFT_GRADES", "laboratory_shift_section", "with_laboratory_shift"]
