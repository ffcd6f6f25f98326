"""Kaplan-Meier, log-rank and Cox against lifelines (the independent oracle) and by property."""

import math

import numpy as np
import pandas as pd
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lifelines import CoxPHFitter, KaplanMeierFitter
from lifelines.datasets import load_lung
from lifelines.statistics import logrank_test, multivariate_logrank_test

from carnet.analysis import (
    AnalysisInputError,
    AnalysisSettings,
    CoxTies,
    IntervalTransform,
    cox,
    kaplan_meier,
    logrank,
)


def synthetic(n: int, seed: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    arm = rng.integers(0, 2, n)
    stratum = rng.integers(0, 3, n)
    # Rounded times make ties, which is where Efron and Breslow part.
    event_time = np.ceil(rng.exponential(300 * np.where(arm == 1, 1.4, 1.0)) / 7) * 7
    censor_time = np.ceil(rng.uniform(100, 900, n) / 7) * 7
    return pl.DataFrame(
        {
            "subject": [f"S{i:04d}" for i in range(n)],
            "time": np.minimum(event_time, censor_time),
            "event": (event_time <= censor_time).astype(int),
            "arm": np.where(arm == 1, "B", "A"),
            "stratum": stratum,
            "age": rng.normal(60, 10, n).round(),
        }
    )


@pytest.fixture(scope="module")
def trial() -> pl.DataFrame:
    return synthetic(400, seed=7)


def test_the_curve_matches_lifelines_step_for_step(trial: pl.DataFrame) -> None:
    # Convention: log-log transform, which is what lifelines uses for its interval.
    table = kaplan_meier(trial).curve().table
    fitter = KaplanMeierFitter().fit(trial["time"].to_numpy(), trial["event"].to_numpy())
    expected = fitter.survival_function_.iloc[1:, 0].to_numpy()
    interval = fitter.confidence_interval_.iloc[1:].to_numpy()
    np.testing.assert_allclose(table["survival"].to_numpy(), expected, rtol=1e-12)
    np.testing.assert_allclose(table["lower"].to_numpy(), interval[:, 0], rtol=1e-9)
    np.testing.assert_allclose(table["upper"].to_numpy(), interval[:, 1], rtol=1e-9)


def test_survival_at_fixed_times_reads_the_step_function_and_counts_those_at_risk() -> None:
    frame = pl.DataFrame({"time": [2, 4, 4, 6, 8], "event": [1, 1, 0, 1, 0]})
    at = kaplan_meier(frame, at=[0, 3, 4, 7, 9]).curve().at_times
    assert at["survival"].to_list()[:4] == pytest.approx([1.0, 0.8, 0.6, 0.3])
    # Beyond the last follow-up the curve is not estimated.
    assert at["survival"][4] is None
    assert at["at_risk"].to_list() == [5, 4, 4, 1, 0]


def test_a_median_sitting_exactly_on_one_half_is_the_middle_of_the_step() -> None:
    # S = 0.5 on [2, 4): R's survfit reports 3.
    frame = pl.DataFrame({"time": [1, 2, 4, 5], "event": [1, 1, 1, 1]})
    assert kaplan_meier(frame).curve().median.time == 3


def test_a_median_not_reached_is_reported_as_such() -> None:
    frame = pl.DataFrame({"time": [1, 2, 3, 4], "event": [1, 0, 0, 0]})
    result = kaplan_meier(frame)
    assert result.curve().median.time is None
    assert "NR" in str(result)


def test_the_log_interval_is_wider_above_than_the_log_log_one_on_lung() -> None:
    lung = pl.from_pandas(load_lung())
    log = kaplan_meier(
        lung, event="status", settings=AnalysisSettings(interval_transform=IntervalTransform.LOG)
    )
    plain = kaplan_meier(
        lung,
        event="status",
        settings=AnalysisSettings(interval_transform=IntervalTransform.PLAIN),
    )
    table_log = log.curve().table
    table_plain = plain.curve().table
    z = 1.959963984540054
    np.testing.assert_allclose(
        table_plain["lower"].to_numpy(),
        np.clip(table_plain["survival"] - z * table_plain["std_error"], 0, 1),
    )
    np.testing.assert_allclose(
        table_log["lower"].to_numpy(),
        table_log["survival"] * np.exp(-z * table_log["std_error"] / table_log["survival"]),
    )
    assert "plain transform" in str(plain)


def test_curves_by_arm_match_lifelines_quartiles(trial: pl.DataFrame) -> None:
    result = kaplan_meier(trial, group="arm")
    assert [c.group for c in result.curves] == ["A", "B"]
    for curve in result.curves:
        part = trial.filter(pl.col("arm") == curve.group)
        fitter = KaplanMeierFitter().fit(part["time"].to_numpy(), part["event"].to_numpy())
        assert curve.median.time == fitter.median_survival_time_
        assert curve.subjects == part.height


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 50), st.booleans()), min_size=1, max_size=60),
    st.sampled_from(list(IntervalTransform)),
)
def test_kaplan_meier_is_non_increasing_within_zero_and_one(
    rows: list[tuple[int, bool]], transform: IntervalTransform
) -> None:
    frame = pl.DataFrame({"time": [r[0] for r in rows], "event": [r[1] for r in rows]})
    table = (
        kaplan_meier(frame, settings=AnalysisSettings(interval_transform=transform)).curve().table
    )
    survival = table["survival"].to_numpy()
    assert ((survival >= 0) & (survival <= 1)).all()
    assert (np.diff(survival) <= 1e-15).all()
    assert (
        (table["lower"] <= table["survival"] + 1e-12)
        & (table["survival"] <= table["upper"] + 1e-12)
    ).all()
    assert ((table["lower"] >= 0) & (table["upper"] <= 1)).all()


def test_the_log_rank_matches_lifelines_for_two_and_three_groups(trial: pl.DataFrame) -> None:
    two = logrank(trial, group="arm")
    a, b = trial.filter(pl.col("arm") == "A"), trial.filter(pl.col("arm") == "B")
    oracle = logrank_test(a["time"], b["time"], a["event"], b["event"])
    assert two.chi_square == pytest.approx(oracle.test_statistic, rel=1e-10)
    three = logrank(trial, group="stratum")
    oracle3 = multivariate_logrank_test(trial["time"], trial["stratum"], trial["event"])
    assert three.degrees_of_freedom == 2
    assert three.chi_square == pytest.approx(oracle3.test_statistic, rel=1e-10)


def test_the_stratified_log_rank_sums_observed_minus_expected_over_strata(
    trial: pl.DataFrame,
) -> None:
    stratified = logrank(trial, group="arm", strata=["stratum"])
    parts = [logrank(trial.filter(pl.col("stratum") == s), group="arm") for s in range(3)]
    assert stratified.observed[0] == sum(p.observed[0] for p in parts)
    assert stratified.expected[0] == pytest.approx(sum(p.expected[0] for p in parts))
    assert stratified.chi_square != pytest.approx(logrank(trial, group="arm").chi_square)
    assert "stratified by stratum" in str(stratified)


def test_cox_with_efron_ties_matches_lifelines_with_covariates_and_strata(
    trial: pl.DataFrame,
) -> None:
    fit = cox(trial, arm="arm", covariates=["age"], strata=["stratum"])
    data = (
        trial.with_columns((pl.col("arm") == "B").cast(int).alias("B"))
        .select("time", "event", "B", "age", "stratum")
        .to_pandas()
    )
    oracle = CoxPHFitter().fit(data, "time", "event", strata=["stratum"])
    assert fit.term("arm=B").coefficient == pytest.approx(oracle.params_["B"], rel=1e-6)
    assert fit.term("age").std_error == pytest.approx(oracle.standard_errors_["age"], rel=1e-5)
    assert fit.log_likelihood == pytest.approx(oracle.log_likelihood_, rel=1e-9)
    assert fit.likelihood_ratio == pytest.approx(
        oracle.log_likelihood_ratio_test().test_statistic, rel=1e-6
    )


def test_breslow_and_efron_agree_without_ties_and_part_with_them(trial: pl.DataFrame) -> None:
    untied = trial.with_columns(pl.col("time") + pl.int_range(pl.len()) * 1e-6)
    breslow = AnalysisSettings(ties=CoxTies.BRESLOW)
    assert cox(untied, arm="arm").term("arm=B").coefficient == pytest.approx(
        cox(untied, arm="arm", settings=breslow).term("arm=B").coefficient, rel=1e-9
    )
    efron_tied = cox(trial, arm="arm").term("arm=B").coefficient
    breslow_tied = cox(trial, arm="arm", settings=breslow).term("arm=B").coefficient
    # Breslow's approximation biases toward the null when ties are many.
    assert abs(breslow_tied) < abs(efron_tied)
    assert "Breslow ties" in str(cox(trial, arm="arm", settings=breslow))


def test_the_score_test_equals_the_log_rank_without_ties(trial: pl.DataFrame) -> None:
    # A textbook identity: without tied times the Cox score test for one arm is the log-rank test.
    untied = trial.with_columns(pl.col("time") + pl.int_range(pl.len()) * 1e-6)
    assert cox(untied, arm="arm").score == pytest.approx(
        logrank(untied, group="arm").chi_square, rel=1e-9
    )


def test_the_reference_arm_of_the_settings_sets_the_direction_of_the_hazard_ratio(
    trial: pl.DataFrame,
) -> None:
    forward = cox(trial, arm="arm", settings=AnalysisSettings(reference_arm="A"))
    backward = cox(trial, arm="arm", settings=AnalysisSettings(reference_arm="B"))
    assert forward.term("arm=B").hazard_ratio == pytest.approx(
        1 / backward.term("arm=A").hazard_ratio
    )
    with pytest.raises(AnalysisInputError, match="reference arm 'C'") as error:
        cox(trial, arm="arm", settings=AnalysisSettings(reference_arm="C"))
    assert error.value.parameter == "reference_arm"


def test_the_wald_score_and_likelihood_ratio_tests_agree_roughly(trial: pl.DataFrame) -> None:
    fit = cox(trial, arm="arm")
    assert fit.wald == pytest.approx(fit.term("arm=B").z ** 2)
    assert math.isclose(fit.wald, fit.likelihood_ratio, rel_tol=0.1)
    assert math.isclose(fit.score, fit.likelihood_ratio, rel_tol=0.1)


def test_a_negative_time_is_refused_naming_the_subject() -> None:
    frame = pl.DataFrame({"subject": ["001", "002"], "time": [5.0, -1.0], "event": [1, 0]})
    for compute in (
        lambda: kaplan_meier(frame),
        lambda: logrank(frame.with_columns(arm=pl.Series(["A", "B"])), group="arm"),
        lambda: cox(frame.with_columns(arm=pl.Series(["A", "B"])), arm="arm"),
    ):
        with pytest.raises(AnalysisInputError, match="002") as error:
            compute()
        assert error.value.subject == "002"
        assert error.value.parameter == "time"


def test_an_event_coded_2_is_refused_naming_the_subject() -> None:
    frame = pl.DataFrame({"subject": ["001", "002"], "time": [5.0, 3.0], "event": [1, 2]})
    with pytest.raises(AnalysisInputError, match="002"):
        kaplan_meier(frame)


def test_a_missing_time_is_refused() -> None:
    frame = pl.DataFrame({"subject": ["001", "002"], "time": [5.0, None], "event": [1, 0]})
    with pytest.raises(AnalysisInputError, match="'time' is missing for 002"):
        kaplan_meier(frame)


def test_a_cox_arm_without_events_is_refused_rather_than_reported() -> None:
    frame = pl.DataFrame(
        {"time": [1, 2, 3, 4, 5, 6], "event": [1, 1, 1, 0, 0, 0], "arm": list("AAABBB")}
    )
    with pytest.raises(AnalysisInputError, match="monotone likelihood"):
        cox(frame, arm="arm")


def test_lifelines_pandas_boundary_is_not_needed_for_inputs(trial: pl.DataFrame) -> None:
    # Polars in, typed results out: no pandas object leaks into results.
    result = kaplan_meier(trial)
    assert isinstance(result.curve().table, pl.DataFrame)
    assert not isinstance(result.curve().table, pd.DataFrame)


def test_a_cox_covariate_separating_events_perfectly_is_refused_as_monotone() -> None:
    # Every event has a higher value than every censored subject at risk: no finite estimate.
    frame = pl.DataFrame(
        {"time": [1, 2, 3, 4, 5, 6], "event": [1, 1, 1, 0, 0, 0], "x": [6, 5, 4, 1, 2, 3]}
    )
    with pytest.raises(AnalysisInputError, match="monotone likelihood") as error:
        cox(frame, covariates=["x"])
    assert error.value.parameter == "x"


NO_EVENTS = pl.DataFrame(
    {
        "time": [1.0, 2.0, 3.0, 4.0],
        "event": [0, 0, 0, 0],
        "arm": ["A", "B", "A", "B"],
        "x": [1, 2, 3, 4],
    }
)


def test_a_log_rank_without_events_is_refused_in_words() -> None:
    with pytest.raises(AnalysisInputError, match="no event") as error:
        logrank(NO_EVENTS, group="arm")
    assert error.value.parameter == "event"


def test_a_cox_model_without_events_is_refused_in_words() -> None:
    with pytest.raises(AnalysisInputError, match="no event") as error:
        cox(NO_EVENTS, arm="arm", covariates=["x"])
    assert "collinear" not in str(error.value)
    assert error.value.parameter == "event"


@pytest.mark.parametrize("group", [None, "arm"])
def test_kaplan_meier_of_an_empty_frame_is_refused(group: str | None) -> None:
    empty = NO_EVENTS.clear()
    with pytest.raises(AnalysisInputError, match="no subject"):
        kaplan_meier(empty, group=group)
    with pytest.raises(AnalysisInputError, match="no subject"):
        logrank(empty, group="arm")
    with pytest.raises(AnalysisInputError, match="no subject"):
        cox(empty, arm="arm")


def test_each_survival_result_prints_only_the_conventions_it_used(trial: pl.DataFrame) -> None:
    km = str(kaplan_meier(trial))
    assert "log-log transform" in km
    for absent in ("Cox ties", "Reference arm", "PFS:", "RECIST", "treatment-emergent"):
        assert absent not in km
    test = str(logrank(trial, group="arm"))
    for absent in ("Kaplan-Meier interval", "Cox ties", "PFS:", "RECIST", "treatment-emergent"):
        assert absent not in test
    fit = str(cox(trial, arm="arm"))
    assert "Cox ties: Efron" in fit
    assert "Reference arm: A" in fit
    for absent in ("Kaplan-Meier interval", "PFS:", "RECIST", "treatment-emergent"):
        assert absent not in fit
