"""Published figures (../shared/reference/README.md) reproduced with the convention they name."""

import polars as pl
import pytest
from lifelines.datasets import load_lung
from scipy import stats

from carnet.analysis import (
    AnalysisSettings,
    CoxTies,
    IntervalTransform,
    SpendingFunction,
    ahern_single_stage,
    cox,
    group_sequential_design,
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


# Group-sequential designs with beta spending. Source: gsDesign's own published test snapshots
# (keaven/gsDesign, tests/testthat/_snaps/independent-test-gsBoundSummary.md and the calls in
# tests/testthat/test-independent-test-gsBoundSummary.R). Convention: one-sided alpha 0.025,
# beta 0.10, equally spaced looks, Hwang-Shih-DeCani spending, gamma -4 for efficacy and -2 for
# futility (gsDesign's defaults), non-binding futility (test.type = 4).


def test_gsdesign_default_three_looks_with_non_binding_futility() -> None:
    # gsDesign(delta = 0.3): Z 3.0107 / 2.5465 / 1.9992 (efficacy), -0.2387 / 0.9411 / 1.9992
    # (futility); maximum information 124.91 against the fixed design's
    # ((z_0.975 + z_0.90) / 0.3)^2 = 116.75, an inflation of 1.070.
    design = group_sequential_design(
        [1 / 3, 2 / 3, 1.0],
        alpha=0.025,
        power=0.90,
        efficacy=SpendingFunction.HWANG_SHIH_DECANI,
        efficacy_parameter=-4,
        futility=SpendingFunction.HWANG_SHIH_DECANI,
        futility_parameter=-2,
        binding=False,
    )
    assert [round(z, 4) for z in design.upper] == [3.0107, 2.5465, 1.9992]
    assert [round(z, 3) for z in design.lower] == [-0.239, 0.941, 1.999]
    fixed = ((stats.norm.ppf(0.975) + stats.norm.ppf(0.90)) / 0.3) ** 2
    assert round(design.inflation * fixed, 1) == 124.9
    assert round(design.inflation, 3) == 1.070
    # P(crossing the futility bound at the first look | H0) 0.4057, (| H1) 0.0148.
    assert round(design.futility_h0[0], 4) == 0.4057
    assert round(design.futility_h1[0], 4) == 0.0148


def test_gsdesign_five_looks_with_and_without_futility() -> None:
    # gsDesign(k = 5, test.type = 4): efficacy 3.2527 2.9860 2.6917 2.3737 2.0253, futility
    # -0.9016 -0.0367 0.6945 1.3603 2.0253, N / fixed N 1.1 at the end (0.22 at the first look);
    # with the non-binding futility bound the type I error actually spent is 0.0226.
    looks = [0.2, 0.4, 0.6, 0.8, 1.0]
    design = group_sequential_design(
        looks, futility=SpendingFunction.HWANG_SHIH_DECANI, futility_parameter=-2
    )
    assert [round(z, 4) for z in design.upper] == [3.2527, 2.9860, 2.6917, 2.3737, 2.0253]
    assert [round(z, 4) for z in design.lower] == [-0.9016, -0.0367, 0.6945, 1.3603, 2.0253]
    assert round(design.inflation, 2) == 1.10
    assert round(design.inflation * 0.2, 2) == 0.22
    assert round(design.alpha_with_futility, 4) == 0.0226
    # gsDesign(k = 5, test.type = 1): efficacy only, N / fixed N 1.02, cumulative power
    # 0.0370 0.1883 0.4530 0.7229 0.9000.
    efficacy_only = group_sequential_design(looks)
    assert [round(z, 4) for z in efficacy_only.upper] == [3.2527, 2.9860, 2.6917, 2.3737, 2.0253]
    assert efficacy_only.lower is None
    assert round(efficacy_only.inflation, 2) == 1.02
    assert [round(p, 4) for p in efficacy_only.cumulative_power] == [
        0.0370,
        0.1883,
        0.4530,
        0.7229,
        0.9000,
    ]


def test_patients_with_dropout_match_rpact() -> None:
    # rpact's published unit test (rpact-com/rpact, tests/testthat/test-f_design_plan_survival.R):
    # getSampleSizeSurvival(pi1 = 0.4, pi2 = 0.2, eventTime = 14, accrualTime = 8,
    # followUpTime = 10, dropoutRate1 = 0.1, dropoutRate2 = 0.05, dropoutTime = 16) gives
    # lambda1 0.036487545, lambda2 0.015938825 (HR 2.2892242, control median 43.487972),
    # 64.634742 events for 224.258 patients at 1:1 and 86.179656 events for 257.43359 at 3:1.
    # Convention: uniform accrual, exponential event and dropout times (dropout hazard
    # -log(1 - rate) / time), dropout a competing risk.
    for allocation, events, patients in ((0.5, 64.634742, 224.258), (0.75, 86.179656, 257.43359)):
        size = survival_sample_size(
            2.2892242,
            allocation=allocation,
            control_median=43.487972,
            accrual_duration=8,
            follow_up_duration=10,
            dropout_rate=0.05,
            dropout_rate_experimental=0.1,
            dropout_time=16,
        )
        assert size.event_probability is not None
        assert events / size.event_probability == pytest.approx(patients, rel=1e-6)
