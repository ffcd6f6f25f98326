"""The subject-level analysis frame derived from a study's exported datasets, as its plan says.

Django-free: it reads the frames an export of a cut-off writes (the subject dataset and the form
datasets) and the study's `StatisticalPlan`, and calls `carnet.analysis` for OS, PFS and the best
overall response. The reports build it from a cut-off in memory; a statistician rebuilds the
same from the exported files (`tests/reports/test_values_equal_the_export.py` does).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import polars as pl

from carnet.analysis import (
    AnalysisSettings,
    BestOverallResponses,
    DerivedEndpoint,
    ProgressionFreeRules,
    ResponseRules,
    TimePointResponses,
    best_overall_response,
    overall_survival,
    progression_free_survival,
)
from carnet.studies.definition.statistical_plan import StatisticalPlan

# The pooled "arm" of a blinded reader: every output groups by it instead of the arm.
POOLED = "All patients"
# The group of a subject without an arm in a report by arm.
NOT_RANDOMISED = "Not randomised"
RESPONSES = ("CR", "PR", "SD", "PD", "NE")
_TIME_POINTS = {
    "subject": pl.String,
    "date": pl.Date,
    "target_sum": pl.Float64,
    "nadir": pl.Float64,
    "target": pl.String,
    "non_target": pl.String,
    "new_lesion": pl.Boolean,
    "overall": pl.String,
}


def analysis_settings(plan: StatisticalPlan) -> AnalysisSettings:
    """Return the analysis settings the plan states (the defaults where it states none)."""
    raw = dict(plan.settings)
    progression = ProgressionFreeRules(**raw.pop("progression_free", {}) or {})
    response = ResponseRules(**raw.pop("response", {}) or {})
    return AnalysisSettings(progression_free=progression, response=response, **raw)


@dataclass(frozen=True)
class AnalysisDataset:
    """The analysis frame (one row per subject) and what it was derived with."""

    frame: pl.DataFrame
    settings: AnalysisSettings
    plan: StatisticalPlan
    by_arm: bool
    overall_survival: DerivedEndpoint | None = None
    progression_free: DerivedEndpoint | None = None
    best_response: BestOverallResponses | None = None
    assessments: pl.DataFrame = field(default_factory=pl.DataFrame)
    adverse_events: pl.DataFrame = field(default_factory=pl.DataFrame)
    notes: tuple[str, ...] = ()
    # Graded laboratory values: subject, analyte, sampled_on, grade, group (see datasets.py).
    laboratory: pl.DataFrame = field(default_factory=pl.DataFrame)
    # Exposure per subject and product (the pharmacy's columns) with the group (datasets.py).
    exposure: pl.DataFrame = field(default_factory=pl.DataFrame)

    @property
    def groups(self) -> list[str]:
        """Return the arms (or the pooled group) in order."""
        return sorted(self.frame["group"].unique().to_list())


def _first(frame: pl.DataFrame, column: str, how: str, alias: str) -> pl.DataFrame:
    """Return per subject the earliest (``min``) or latest (``max``) non-null value."""
    if frame.is_empty() or column not in frame.columns:
        return pl.DataFrame(schema={"subject": pl.String, alias: pl.Date})
    kept = frame.filter(pl.col(column).is_not_null())
    agg = pl.col(column).min() if how == "min" else pl.col(column).max()
    return kept.group_by("subject").agg(agg.alias(alias))


def _form(forms: Mapping[str, pl.DataFrame], name: str) -> pl.DataFrame:
    return forms.get(name, pl.DataFrame(schema={"subject": pl.String}))


def _subject_value(forms: Mapping[str, pl.DataFrame], item: str) -> pl.DataFrame | None:
    """Return per subject the first recorded value of a one-per-subject item (stratum)."""
    for frame in forms.values():
        if item in frame.columns and "row" not in frame.columns:
            return (
                frame.filter(pl.col(item).is_not_null())
                .sort("visit_date", nulls_last=True)
                .group_by("subject", maintain_order=True)
                .agg(pl.col(item).first().cast(pl.String))
            )
    return None


def _dates(plan: StatisticalPlan, forms: Mapping[str, pl.DataFrame]) -> pl.DataFrame:
    """Return per subject the dates the plan points at: death, news, new therapy, doses."""
    endpoints = plan.endpoints
    found: list[pl.DataFrame] = []
    for key, how in (
        ("death", "min"),
        ("last_news", "max"),
        ("new_therapy", "min"),
        ("first_dose", "min"),
        ("last_dose", "max"),
    ):
        reference = getattr(endpoints, key)
        if reference is None:
            continue
        found.append(_first(_form(forms, reference.form), reference.item, how, f"{key}_item"))
    # Ongoing treatment: the latest administration is the last dose so far.
    if endpoints.first_dose is not None:
        source = _form(forms, endpoints.first_dose.form)
        found.append(_first(source, endpoints.first_dose.item, "max", "latest_dose_item"))
    frame = pl.DataFrame(schema={"subject": pl.String})
    for part in found:
        frame = frame.join(part, on="subject", how="full", coalesce=True)
    return frame


def _base(
    plan: StatisticalPlan,
    subjects: pl.DataFrame,
    forms: Mapping[str, pl.DataFrame],
    by_arm: bool,
) -> pl.DataFrame:
    """Return one row per subject with its reference date, death, news, doses and group."""
    dates = _dates(plan, forms)
    wanted = ["death_item", "last_news_item", "new_therapy_item", "first_dose_item"]
    wanted += ["last_dose_item", "latest_dose_item"]
    for column in wanted:
        if column not in dates.columns:
            dates = dates.with_columns(pl.lit(None, pl.Date).alias(column))
    # By arm, a subject without one (treated before their allocation, or in a study whose
    # patients are not randomised yet) is counted apart rather than refusing every table.
    group = (
        pl.coalesce(pl.col("arm"), pl.lit(NOT_RANDOMISED))
        if by_arm and "arm" in subjects.columns
        else pl.lit(POOLED)
    )
    frame = subjects.join(dates, on="subject", how="left").with_columns(
        group.cast(pl.String).alias("group"),
        pl.coalesce("randomised_on", "included_on").alias("reference"),
    )
    death = pl.coalesce("death_on", "death_item")
    news = pl.max_horizontal("last_news_on", "last_news_item", "reference")
    return frame.with_columns(
        death.alias("death"),
        # Nothing is known of a subject after their death: the death is their last news.
        pl.when(death.is_not_null()).then(death).otherwise(news).alias("last_news"),
        pl.col("new_therapy_item").alias("new_therapy"),
        pl.col("last_dose_item").is_not_null().alias("treatment_ended"),
        pl.col("first_dose_item").alias("first_dose"),
        pl.coalesce("last_dose_item", "latest_dose_item").alias("last_dose"),
    )


def _assessments(plan: StatisticalPlan, forms: Mapping[str, pl.DataFrame]) -> pl.DataFrame:
    """Return the tumour assessments: subject, date, response (RECIST category), change."""
    spec = plan.endpoints.assessments
    schema = {"subject": pl.String, "date": pl.Date, "response": pl.String, "change": pl.Float64}
    if spec is None:
        return pl.DataFrame(schema=schema)
    frame = _form(forms, spec.form)
    if frame.is_empty() or spec.date not in frame.columns or spec.response not in frame.columns:
        return pl.DataFrame(schema=schema)
    codes = {value: category for category, value in spec.codes.items()}
    change = (
        pl.col(spec.change).cast(pl.Float64)
        if spec.change and spec.change in frame.columns
        else pl.lit(None, pl.Float64)
    )
    return (
        frame.filter(pl.col(spec.date).is_not_null())
        .select(
            "subject",
            pl.col(spec.date).alias("date"),
            pl.col(spec.response)
            .cast(pl.String)
            .replace_strict(codes, default="NE", return_dtype=pl.String)
            .alias("response"),
            change.alias("change"),
        )
        .sort("subject", "date")
    )


def _with_coding(
    events: pl.DataFrame, coding: Mapping[str, tuple[str, str]] | None
) -> pl.DataFrame:
    """Add each event's MedDRA SOC and PT (null where its verbatim is not coded)."""
    keys = (
        pl.col("term")
        .str.to_lowercase()
        .str.split(" ")
        .list.eval(pl.element().filter(pl.element() != ""))
        .list.join(" ")
    )
    coding = coding or {}
    return events.with_columns(
        keys.replace_strict(
            {k: v[0] for k, v in coding.items()}, default=None, return_dtype=pl.String
        ).alias("soc"),
        keys.replace_strict(
            {k: v[1] for k, v in coding.items()}, default=None, return_dtype=pl.String
        ).alias("pt"),
    )


def _adverse_events(plan: StatisticalPlan, forms: Mapping[str, pl.DataFrame]) -> pl.DataFrame:
    """Return the adverse events: subject, term, grade, onset, serious, related, discontinued."""
    spec = plan.endpoints.adverse_events
    schema = {
        "subject": pl.String,
        "term": pl.String,
        "grade": pl.Int64,
        "onset": pl.Date,
        "serious": pl.Boolean,
        "related": pl.Boolean,
        "discontinued": pl.Boolean,
    }
    if spec is None:
        return pl.DataFrame(schema=schema)
    frame = _form(forms, spec.form)
    if frame.is_empty() or spec.term not in frame.columns:
        return pl.DataFrame(schema=schema)

    def flag(coded: object) -> pl.Expr:
        if coded is None or coded.item not in frame.columns:  # type: ignore[attr-defined]
            return pl.lit(False)
        codes = list(coded.codes)  # type: ignore[attr-defined]
        return pl.col(coded.item).cast(pl.String).is_in(codes).fill_null(False)  # type: ignore[attr-defined]

    return frame.select(
        "subject",
        pl.col(spec.term).cast(pl.String).str.strip_chars().str.to_titlecase().alias("term"),
        pl.col(spec.grade).cast(pl.Int64, strict=False).alias("grade"),
        pl.col(spec.onset).alias("onset"),
        flag(spec.serious).alias("serious"),
        flag(spec.related).alias("related"),
        flag(spec.discontinued).alias("discontinued"),
    ).filter(
        pl.col("term").is_not_null() & pl.col("grade").is_not_null() & pl.col("onset").is_not_null()
    )


def _duration_of_response(frame: pl.DataFrame, assessments: pl.DataFrame) -> pl.DataFrame:
    """Return per responder the duration of response: from the first CR/PR to progression or
    death (event), else censored at the last adequate assessment.

    Set-wise in Polars (a loop over the responders took half a 10,000-patient DSMB report)."""
    schema = {"subject": pl.String, "dor_time": pl.Int64, "dor_event": pl.Boolean}
    if assessments.is_empty():
        return pl.DataFrame(schema=schema)
    starts = (
        assessments.filter(pl.col("response").is_in(["CR", "PR"]))
        .group_by("subject")
        .agg(pl.col("date").min().alias("_start"))
    )
    if starts.is_empty():
        return pl.DataFrame(schema=schema)
    progression = (
        assessments.join(starts, on="subject")
        .filter((pl.col("date") > pl.col("_start")) & (pl.col("response") == "PD"))
        .group_by("subject")
        .agg(pl.col("date").min().alias("_progression"))
    )
    adequate = (
        assessments.filter(pl.col("response") != "NE")
        .group_by("subject")
        .agg(pl.col("date").max().alias("_adequate"))
    )
    end = pl.min_horizontal("_progression", "_death")
    return (
        starts.join(progression, on="subject", how="left")
        .join(frame.select("subject", pl.col("death").alias("_death")), on="subject", how="left")
        .join(adequate, on="subject", how="left")
        .select(
            pl.col("subject").cast(pl.String),
            (pl.coalesce(end, "_adequate") - pl.col("_start"))
            .dt.total_days()
            .cast(pl.Int64)
            .alias("dor_time"),
            end.is_not_null().alias("dor_event"),
        )
    )


def _os(base: pl.DataFrame, settings: AnalysisSettings) -> DerivedEndpoint:
    return overall_survival(
        base.select("subject", pl.col("reference").alias("randomisation"), "death", "last_news"),
        settings=settings,
    )


def _pfs(
    base: pl.DataFrame, assessments: pl.DataFrame, settings: AnalysisSettings
) -> DerivedEndpoint:
    references = base.select("subject", "reference")
    on_study = assessments.join(references, on="subject").filter(
        pl.col("date") >= pl.col("reference")
    )
    progression = (
        on_study.filter(pl.col("response") == "PD")
        .group_by("subject")
        .agg(pl.col("date").min().alias("progression"))
    )
    adequate = on_study.filter(pl.col("response") != "NE").select("subject", "date")
    subjects = base.join(progression, on="subject", how="left").select(
        "subject",
        pl.col("reference").alias("randomisation"),
        "progression",
        "death",
        # The last news is never before a progression seen on imaging.
        pl.max_horizontal("last_news", "progression").alias("last_news"),
        pl.when(pl.col("new_therapy") >= pl.col("reference"))
        .then(pl.col("new_therapy"))
        .alias("new_therapy"),
    )
    return progression_free_survival(subjects, adequate, settings=settings)


def _best(
    base: pl.DataFrame, assessments: pl.DataFrame, settings: AnalysisSettings
) -> BestOverallResponses:
    references = base.select("subject", "reference")
    points = assessments.join(references, on="subject").filter(pl.col("date") > pl.col("reference"))
    frame = points.select(
        "subject",
        "date",
        pl.lit(None, pl.Float64).alias("target_sum"),
        pl.lit(None, pl.Float64).alias("nadir"),
        pl.lit(None, pl.String).alias("target"),
        pl.lit(None, pl.String).alias("non_target"),
        pl.lit(None, pl.Boolean).alias("new_lesion"),
        pl.col("response").alias("overall"),
    ).cast(_TIME_POINTS)  # type: ignore[arg-type]
    return best_overall_response(TimePointResponses(frame, settings), references, settings=settings)


def derive(
    plan: StatisticalPlan,
    subjects: pl.DataFrame,
    forms: Mapping[str, pl.DataFrame],
    *,
    by_arm: bool,
    code_labels: Mapping[str, Mapping[str, str]] | None = None,
    coding: Mapping[str, tuple[str, str]] | None = None,
) -> AnalysisDataset:
    """Return the subject-level analysis frame of the subjects with a reference date.

    ``subjects`` is an export's subject dataset (with ``arm`` when unblinded), ``forms`` its form
    datasets by name. Columns: subject, site, group (arm, or the pooled group), populations,
    reference (randomisation, else inclusion), OS and PFS (time in days, event, reason), best
    overall response and its reason, duration of response, first and last dose, and the strata
    and subgroups of the plan (as their labels when ``code_labels`` gives them). ``coding``
    gives the MedDRA SOC and PT of the adverse events' verbatim terms (by lower-case key).
    """
    settings = analysis_settings(plan)
    subjects = subjects.with_columns(pl.col("subject").cast(pl.String))
    eligible = subjects.filter(
        pl.col("randomised_on").is_not_null() | pl.col("included_on").is_not_null()
    )
    base = _base(plan, eligible, forms, by_arm)
    notes = []
    if base.height < subjects.height:
        notes.append(f"{subjects.height - base.height} subjects without a reference date left out.")
    os = _os(base, settings)
    frame = base.select(
        "subject",
        "site",
        "group",
        "itt",
        "per_protocol",
        "safety",
        "reference",
        "death",
        "last_news",
        "new_therapy",
        "first_dose",
        "last_dose",
        "treatment_ended",
    ).join(
        os.frame.select(
            "subject",
            pl.col("time").alias("os_time"),
            pl.col("event").alias("os_event"),
            pl.col("reason").alias("os_reason"),
        ),
        on="subject",
        how="left",
    )
    assessments = _assessments(plan, forms)
    pfs = best = None
    if plan.endpoints.assessments is not None:
        pfs = _pfs(base, assessments, settings)
        best = _best(base, assessments, settings)
        frame = frame.join(
            pfs.frame.select(
                "subject",
                pl.col("time").alias("pfs_time"),
                pl.col("event").alias("pfs_event"),
                pl.col("reason").alias("pfs_reason"),
            ),
            on="subject",
            how="left",
        ).join(
            best.frame.select(
                "subject",
                pl.col("best_response").alias("bor"),
                pl.col("reason").alias("bor_reason"),
            ),
            on="subject",
            how="left",
        )
        frame = frame.join(_duration_of_response(base, assessments), on="subject", how="left")
    labels = code_labels or {}
    for item in dict.fromkeys([*plan.strata, *plan.subgroups]):
        values = _subject_value(forms, item)
        if values is None:
            frame = frame.with_columns(pl.lit(None, pl.String).alias(item))
            continue
        mapping = dict(labels.get(item, {}))
        if mapping:
            values = values.with_columns(
                pl.col(item).replace_strict(mapping, default=pl.col(item), return_dtype=pl.String)
            )
        frame = frame.join(values, on="subject", how="left")
    frame = frame.with_columns(
        pl.col("first_dose").is_not_null().cast(pl.Int8).alias("treated")
    ).sort("subject")
    return AnalysisDataset(
        frame=frame,
        settings=settings,
        plan=plan,
        by_arm=by_arm,
        overall_survival=os,
        progression_free=pfs,
        best_response=best,
        assessments=assessments.join(base.select("subject", "group"), on="subject"),
        adverse_events=_with_coding(_adverse_events(plan, forms), coding).join(
            base.select("subject", "group"), on="subject"
        ),
        notes=tuple(notes),
    )


__all__ = [
    "NOT_RANDOMISED",
    "POOLED",
    "RESPONSES",
    "AnalysisDataset",
    "analysis_settings",
    "derive",
]
