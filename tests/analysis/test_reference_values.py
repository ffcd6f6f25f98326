"""Published figures (../shared/reference/README.md) reproduced with the convention they name."""

import polars as pl
import pytest
from lifelines.datasets import load_lung

from carnet.analysis import (
    AnalysisSettings,
    CoxTies,
    IntervalTransform,
    ahern_single_stage,
    cox,
    kaplan_meier,
    logrank,
    simon_two_stage,
    survival_sample_size,
)


@pytest.fixture(scope="module")
def lung() -> pl.DataFrame:
    # lifelines ships R's survival::lung, with status recoded to 1 = death, 0 = censored.
    frame = pl.from_pandas(load_lung())
    assert frame.height == 228
    assert int(frame["status"].sum()) == 165
    return frame


def test_the_lung_median_is_310_days(lung: pl.DataFrame) -> None:
    curve = kaplan_meier(lung, event="status").curve()
    assert curve.median.time == 310


def test_the_lung_median_interval_with_log_log_is_284_to_361(lung: pl.DataFrame) -> None:
    # Convention: Greenwood variance, log-log transform (SAS LIFETEST, Stata, lifelines).
    settings = AnalysisSettings(interval_transform=IntervalTransform.LOG_LOG)
    median = kaplan_meier(lung, event="status", settings=settings).curve().median
    assert (median.lower, median.upper) == (284, 361)


def test_the_lung_median_interval_with_log_is_285_to_363(lung: pl.DataFrame) -> None:
    # Convention: Greenwood variance, log transform (R survfit's default conf.type="log").
    settings = AnalysisSettings(interval_transform=IntervalTransform.LOG)
    median = kaplan_meier(lung, event="status", settings=settings).curve().median
    assert (median.lower, median.upper) == (285, 363)


def test_log_log_is_the_default_transform_and_is_printed(lung: pl.DataFrame) -> None:
    result = kaplan_meier(lung, event="status")
    assert result.settings.interval_transform is IntervalTransform.LOG_LOG
    assert "log-log transform" in str(result)
    assert "310 (284-361)" in str(result)


def test_the_lung_log_rank_by_sex_is_10_3_with_p_0_00131(lung: pl.DataFrame) -> None:
    result = logrank(lung, event="status", group="sex")
    assert result.groups == ("1", "2")
    assert result.observed == (112, 53)
    assert [round(e, 2) for e in result.expected] == [91.58, 73.42]
    assert round(result.chi_square, 1) == 10.3
    assert result.degrees_of_freedom == 1
    assert round(result.p_value, 5) == 0.00131


def test_the_lung_cox_by_sex_with_efron_ties_matches_r(lung: pl.DataFrame) -> None:
    # Convention: Efron ties (R coxph and lifelines default), sex=1 as reference.
    settings = AnalysisSettings(ties=CoxTies.EFRON, reference_arm="1")
    fit = cox(lung, event="status", arm="sex", settings=settings)
    term = fit.term("sex=2")
    assert round(term.coefficient, 3) == -0.531
    assert round(term.hazard_ratio, 3) == 0.588
    assert (round(term.lower, 3), round(term.upper, 3)) == (0.424, 0.816)
    assert round(term.std_error, 3) == 0.167
    assert round(term.z, 2) == -3.18
    assert round(fit.likelihood_ratio, 2) == 10.63
    assert "Efron ties" in str(fit)


@pytest.mark.parametrize(
    ("p0", "p1", "kind", "r1", "n1", "r", "n", "expected_size", "early_stop"),
    [
        (0.10, 0.30, "optimal", 1, 10, 5, 29, 15.0, 0.74),
        (0.10, 0.30, "minimax", 1, 15, 5, 25, 19.5, 0.55),
        (0.20, 0.40, "optimal", 3, 13, 12, 43, 20.6, 0.75),
        (0.20, 0.40, "minimax", 4, 18, 10, 33, 22.3, 0.72),
    ],
)
def test_simon_designs_match_simon_1989(
    p0: float,
    p1: float,
    kind: str,
    r1: int,
    n1: int,
    r: int,
    n: int,
    expected_size: float,
    early_stop: float,
) -> None:
    # Convention: one-sided alpha 0.05, beta 0.20; stop if <= r1/n1, active if > r/n.
    optimal, minimax = simon_two_stage(p0, p1, alpha=0.05, power=0.80)
    design = optimal if kind == "optimal" else minimax
    assert (design.r1, design.n1, design.r, design.n) == (r1, n1, r, n)
    assert round(design.expected_size, 1) == expected_size
    assert round(design.early_stop_probability, 2) == early_stop


def test_ahern_needs_27_patients_and_4_responses() -> None:
    # Convention: A'Hern counts ">= r" responses (clinfun's ph2single would say > 3).
    design = ahern_single_stage(0.05, 0.20, alpha=0.05, power=0.80)
    assert (design.n, design.r) == (27, 4)
    assert design.alpha <= 0.05
    assert design.power >= 0.80


def test_schoenfeld_needs_380_events_for_a_hazard_ratio_of_0_75() -> None:
    # Convention: 1:1 allocation, two-sided alpha 0.05, power 80%.
    size = survival_sample_size(0.75, alpha=0.05, power=0.80, allocation=0.5)
    assert round(size.events_exact, 1) == 379.4
    assert size.events == 380


def test_a_cox_coefficient_above_20_is_a_valid_model_lung_age_over_2000(
    lung: pl.DataFrame,
) -> None:
    # R: coxph(Surv(time, status) ~ age, lung): coef 0.01872, se 0.00920, p 0.0419. Dividing age
    # by 2000 multiplies the coefficient by 2000 (37.4) and changes no test; a valid model.
    frame = lung.with_columns((pl.col("age") / 2000).alias("age_2000"))
    fit = cox(frame, event="status", covariates=["age_2000"])
    term = fit.term("age_2000")
    assert round(term.coefficient, 1) == 37.4
    assert round(term.p_value, 3) == 0.042
    plain = cox(lung, event="status", covariates=["age"]).term("age")
    assert round(plain.coefficient, 4) == 0.0187
    assert round(plain.std_error, 4) == 0.0092
    assert term.p_value == pytest.approx(plain.p_value, rel=1e-6)
