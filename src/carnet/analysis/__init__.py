"""Validated statistics on Polars frames, with no Django import.

Designs, survival, tumour response and summary tables.

Every computation takes an :class:`AnalysisSettings` (the statistical analysis plan's choices)
and returns a frozen result that carries those settings and prints the conventions it used.

SciPy is imported by the functions that use it, not with the modules: it takes about a second
to import, and every process that loads the URLs (the server, `carnet demo`, each test worker)
imports this package, most of them to compute nothing.
"""

from carnet.analysis.designs import (
    EventsFormula,
    GroupSequentialBoundaries,
    GroupSequentialDesign,
    SimonDesign,
    SingleStageDesign,
    SpendingFunction,
    SurvivalSampleSize,
    TwoProportionsSampleSize,
    ahern_single_stage,
    group_sequential_boundaries,
    group_sequential_design,
    simon_two_stage,
    survival_sample_size,
    two_proportions_sample_size,
)
from carnet.analysis.endpoints import DerivedEndpoint, overall_survival, progression_free_survival
from carnet.analysis.errors import AnalysisInputError
from carnet.analysis.recist import (
    BestOverallResponses,
    NonTargetStatus,
    Response,
    ResponseRate,
    TimePointResponses,
    best_overall_response,
    clopper_pearson,
    objective_response_rate,
    overall_response,
    target_response,
    time_point_responses,
)
from carnet.analysis.settings import (
    AnalysisSettings,
    Convention,
    CoxTies,
    IntervalTransform,
    ProgressionFreeRules,
    ResponseRules,
)
from carnet.analysis.survival import (
    CoxResult,
    CoxTerm,
    KaplanMeierResult,
    LogRankResult,
    SurvivalCurve,
    SurvivalQuantile,
    cox,
    kaplan_meier,
    logrank,
)
from carnet.analysis.tables import (
    Population,
    Table,
    adverse_events_table,
    intention_to_treat,
    per_protocol,
    safety,
    table_one,
)

__all__ = [
    "AnalysisInputError",
    "AnalysisSettings",
    "BestOverallResponses",
    "Convention",
    "CoxResult",
    "CoxTerm",
    "CoxTies",
    "DerivedEndpoint",
    "EventsFormula",
    "GroupSequentialBoundaries",
    "GroupSequentialDesign",
    "IntervalTransform",
    "KaplanMeierResult",
    "LogRankResult",
    "NonTargetStatus",
    "Population",
    "ProgressionFreeRules",
    "Response",
    "ResponseRate",
    "ResponseRules",
    "SimonDesign",
    "SingleStageDesign",
    "SpendingFunction",
    "SurvivalCurve",
    "SurvivalQuantile",
    "SurvivalSampleSize",
    "Table",
    "TimePointResponses",
    "TwoProportionsSampleSize",
    "adverse_events_table",
    "ahern_single_stage",
    "best_overall_response",
    "clopper_pearson",
    "cox",
    "group_sequential_boundaries",
    "group_sequential_design",
    "intention_to_treat",
    "kaplan_meier",
    "logrank",
    "objective_response_rate",
    "overall_response",
    "overall_survival",
    "per_protocol",
    "progression_free_survival",
    "safety",
    "simon_two_stage",
    "survival_sample_size",
    "table_one",
    "target_response",
    "time_point_responses",
    "two_proportions_sample_size",
]
