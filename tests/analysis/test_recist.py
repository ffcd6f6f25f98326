"""RECIST 1.1 (Eisenhauer et al. 2009): time-point rules, best overall response, response rate."""

import datetime as dt

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from carnet.analysis import (
    AnalysisInputError,
    AnalysisSettings,
    Response,
    ResponseRules,
    best_overall_response,
    clopper_pearson,
    objective_response_rate,
    overall_response,
    target_response,
    time_point_responses,
)
from carnet.analysis.recist import NonTargetStatus, non_target_response

DAY0 = dt.date(2024, 1, 1)


def day(offset: int) -> dt.date:
    return DAY0 + dt.timedelta(days=offset)


def one_lesion_course(
    sums: list[float], days: list[int], subject: str = "001"
) -> tuple[pl.DataFrame, pl.DataFrame]:
    baselines = pl.DataFrame({"subject": [subject], "baseline": [DAY0]})
    targets = pl.DataFrame(
        {
            "subject": [subject] * len(sums),
            "date": [day(d) for d in days],
            "lesion": ["T1"] * len(sums),
            "diameter": sums,
            "node": [False] * len(sums),
        }
    )
    return baselines, targets


def test_a_30_percent_fall_from_baseline_is_pr() -> None:
    # Reference: baseline 100 mm -> 70 mm is PR.
    assert target_response([70.0], [False], baseline_sum=100, nadir=100) is Response.PR
    assert target_response([71.0], [False], baseline_sum=100, nadir=100) is Response.SD


def test_a_20_percent_and_5_mm_rise_from_the_nadir_is_pd() -> None:
    # Reference: nadir 70 -> 84 mm is PD; 83 mm is not.
    assert target_response([84.0], [False], baseline_sum=100, nadir=70) is Response.PD
    assert target_response([83.0], [False], baseline_sum=100, nadir=70) is Response.SD


def test_pd_is_measured_from_the_nadir_not_from_baseline() -> None:
    baselines, targets = one_lesion_course([100, 60, 75], [0, 56, 112])
    frame = time_point_responses(baselines, targets).frame
    # 75 is 25% below baseline (SD from baseline) but 25% and 15 mm above the nadir of 60.
    assert frame["nadir"].to_list() == [100, 60]
    assert frame["overall"].to_list() == ["PR", "PD"]


def test_a_20_percent_rise_of_under_5_mm_is_not_pd() -> None:
    assert target_response([12.0], [False], baseline_sum=10, nadir=10) is Response.SD


def test_a_target_cr_needs_every_node_under_10_mm_short_axis() -> None:
    assert target_response([0.0, 9.0], [False, True], baseline_sum=40, nadir=40) is Response.CR
    # A 10 mm node is not normal: not CR, and the sum counts the node.
    assert target_response([0.0, 10.0], [False, True], baseline_sum=40, nadir=40) is Response.PR


def test_a_missing_measurement_is_ne_unless_the_others_already_show_pd() -> None:
    assert target_response([50.0, None], [False, False], baseline_sum=60, nadir=60) is Response.NE
    assert target_response([80.0, None], [False, False], baseline_sum=60, nadir=60) is Response.PD


@pytest.mark.parametrize(
    ("target", "non_target", "new", "expected"),
    [
        (Response.CR, Response.CR, False, Response.CR),
        (Response.CR, Response.NON_CR_NON_PD, False, Response.PR),
        (Response.CR, Response.NE, False, Response.PR),
        (Response.PR, Response.NE, False, Response.PR),
        (Response.SD, Response.NON_CR_NON_PD, False, Response.SD),
        (Response.NE, Response.NON_CR_NON_PD, False, Response.NE),
        (Response.CR, Response.PD, False, Response.PD),
        (Response.PR, None, True, Response.PD),
        (None, Response.CR, False, Response.CR),
        (None, Response.NON_CR_NON_PD, False, Response.NON_CR_NON_PD),
        (None, Response.NE, False, Response.NE),
    ],
)
def test_overall_response_follows_eisenhauer_tables_1_and_2(
    target: Response | None, non_target: Response | None, new: bool, expected: Response
) -> None:
    assert overall_response(target, non_target, new_lesion=new) is expected


def test_non_target_responses() -> None:
    assert non_target_response([NonTargetStatus.ABSENT] * 2) is Response.CR
    assert (
        non_target_response([NonTargetStatus.ABSENT, NonTargetStatus.PRESENT])
        is Response.NON_CR_NON_PD
    )
    assert (
        non_target_response([NonTargetStatus.NOT_EVALUATED, NonTargetStatus.PROGRESSION])
        is Response.PD
    )
    assert (
        non_target_response([NonTargetStatus.PRESENT, NonTargetStatus.NOT_EVALUATED]) is Response.NE
    )
    assert non_target_response([]) is None


diameters = st.lists(st.integers(0, 200).map(float), min_size=1, max_size=5)


@given(diameters, st.integers(10, 600), st.integers(10, 600), st.booleans())
def test_pd_on_the_target_sum_always_needs_both_20_percent_and_5_mm(
    current: list[float], baseline: int, nadir: int, node: bool
) -> None:
    nadir = min(nadir, baseline)
    response = target_response(current, [node] * len(current), baseline_sum=baseline, nadir=nadir)
    total = sum(current)
    both = total >= 1.2 * nadir - 1e-9 and total - nadir >= 5
    assert (response is Response.PD) == both


@given(
    st.sampled_from([*list(Response), None]),
    st.sampled_from([*list(Response), None]),
)
def test_a_new_lesion_is_always_pd(target: Response | None, non_target: Response | None) -> None:
    assert overall_response(target, non_target, new_lesion=True) is Response.PD


def test_a_new_lesion_is_pd_in_the_time_point_table_whatever_the_sum() -> None:
    baselines, targets = one_lesion_course([100, 40], [0, 56])
    new = pl.DataFrame({"subject": ["001"], "date": [day(56)]})
    frame = time_point_responses(baselines, targets, new_lesions=new).frame
    assert frame.row(0, named=True)["target"] == "PR"
    assert frame.row(0, named=True)["overall"] == "PD"


def test_unequivocal_non_target_progression_is_pd_whatever_the_sum() -> None:
    baselines, targets = one_lesion_course([100, 40], [0, 56])
    non_targets = pl.DataFrame(
        {
            "subject": ["001", "001"],
            "date": [day(0), day(56)],
            "lesion": ["N1", "N1"],
            "status": ["present", "progression"],
        }
    )
    frame = time_point_responses(baselines, targets, non_targets).frame
    assert frame["overall"].to_list() == ["PD"]


def bor(sums: list[float], days: list[int], rules: ResponseRules | None = None) -> str:
    baselines, targets = one_lesion_course(sums, days)
    settings = AnalysisSettings(response=rules or ResponseRules())
    responses = time_point_responses(baselines, targets, settings=settings)
    references = pl.DataFrame({"subject": ["001"], "reference": [DAY0]})
    return best_overall_response(responses, references).frame["best_response"][0]


def test_a_pr_confirmed_four_weeks_later_is_the_best_response() -> None:
    assert bor([100, 60, 65], [0, 56, 84]) == "PR"


def test_a_pr_confirmed_too_early_counts_as_sd_only() -> None:
    assert bor([100, 60, 60], [0, 56, 70]) == "SD"


def test_an_unconfirmed_pr_counts_as_pr_when_the_plan_needs_no_confirmation() -> None:
    assert bor([100, 60, 90], [0, 56, 112], ResponseRules(confirmation=False)) == "PR"
    assert bor([100, 60, 90], [0, 56, 112]) == "SD"


def test_sd_before_the_minimum_duration_then_pd_is_pd() -> None:
    assert bor([100, 100, 130], [0, 28, 56]) == "PD"
    assert bor([100, 100, 130], [0, 42, 84]) == "SD"
    assert bor([100, 100, 130], [0, 42, 84], ResponseRules(minimum_stable_disease_days=56)) == "PD"


def test_sd_too_short_without_pd_is_ne() -> None:
    assert bor([100, 100], [0, 28]) == "NE"


def test_responses_after_progression_do_not_count() -> None:
    assert bor([100, 130, 60, 60], [0, 56, 112, 168]) == "PD"


def test_a_cr_followed_by_a_pr_confirms_nothing() -> None:
    # Eisenhauer 2009 table 3: CR then PR is SD (when SD lasted long enough).
    assert bor([100, 0, 40], [0, 56, 112]) == "SD"
    assert bor([100, 0, 0], [0, 56, 112]) == "CR"


def test_a_measurement_before_baseline_is_refused_naming_the_subject() -> None:
    baselines, targets = one_lesion_course([100, 60], [0, -3], subject="017")
    with pytest.raises(AnalysisInputError, match=r"017.*before the baseline") as error:
        time_point_responses(baselines, targets)
    assert error.value.subject == "017"


def test_a_lesion_not_chosen_at_baseline_is_refused() -> None:
    baselines, targets = one_lesion_course([100, 60], [0, 56])
    extra = targets.tail(1).with_columns(pl.lit("T2").alias("lesion"))
    with pytest.raises(AnalysisInputError, match="T2"):
        time_point_responses(baselines, pl.concat([targets, extra]))


def test_more_than_two_targets_in_one_organ_is_refused() -> None:
    baselines = pl.DataFrame({"subject": ["003"], "baseline": [DAY0]})
    targets = pl.DataFrame(
        {
            "subject": ["003"] * 3,
            "date": [DAY0] * 3,
            "lesion": ["T1", "T2", "T3"],
            "diameter": [20.0, 20.0, 20.0],
            "node": [False] * 3,
            "organ": ["liver"] * 3,
        }
    )
    with pytest.raises(AnalysisInputError, match="liver"):
        time_point_responses(baselines, targets)


def test_a_node_under_15_mm_at_baseline_is_not_a_measurable_target() -> None:
    baselines = pl.DataFrame({"subject": ["004"], "baseline": [DAY0]})
    targets = pl.DataFrame(
        {"subject": ["004"], "date": [DAY0], "lesion": ["N1"], "diameter": [12.0], "node": [True]}
    )
    with pytest.raises(AnalysisInputError, match="15 mm"):
        time_point_responses(baselines, targets)


def test_the_response_rate_uses_the_whole_population_and_an_exact_interval() -> None:
    baselines, targets = one_lesion_course([100, 60, 60], [0, 56, 112])
    responses = time_point_responses(baselines, targets)
    best = best_overall_response(responses, pl.DataFrame({"subject": ["001"], "reference": [DAY0]}))
    rate = objective_response_rate(best, ["001", "002", "003", "004"])
    assert (rate.responders, rate.subjects) == (1, 4)
    assert rate.counts["NE"] == 3
    assert (rate.lower, rate.upper) == pytest.approx(clopper_pearson(1, 4, 0.95))
    assert "Clopper-Pearson" in str(rate)


def test_clopper_pearson_matches_the_published_interval_for_7_of_20() -> None:
    # R binom.test(7, 20)$conf.int: 0.1539092 0.5921885.
    lower, upper = clopper_pearson(7, 20, 0.95)
    assert round(lower, 4) == 0.1539
    assert round(upper, 4) == 0.5922
    assert clopper_pearson(0, 10, 0.95)[0] == 0.0
    assert clopper_pearson(10, 10, 0.95)[1] == 1.0


def node_course(short_axes: list[float], days: list[int]) -> tuple[pl.DataFrame, pl.DataFrame]:
    baselines, targets = one_lesion_course(short_axes, days)
    return baselines, targets.with_columns(pl.lit(True).alias("node"))


def test_a_lesion_reappearing_after_a_confirmed_cr_is_pd() -> None:
    # Eisenhauer 2009, table 3 footnote and the EORTC RECIST FAQ: once a CR is truly met, any
    # disease seen later has reappeared, so it is PD even when the sum is far below baseline.
    baselines, targets = one_lesion_course([20, 0, 0, 4], [0, 56, 112, 168])
    frame = time_point_responses(baselines, targets).frame
    assert frame["overall"].to_list() == ["CR", "CR", "PD"]
    assert frame["target"].to_list() == ["CR", "CR", "PD"]


def test_a_lymph_node_growing_back_to_10_mm_after_a_confirmed_cr_is_pd() -> None:
    baselines, targets = node_course([20, 8, 8, 12], [0, 56, 112, 168])
    frame = time_point_responses(baselines, targets).frame
    assert frame["overall"].to_list() == ["CR", "CR", "PD"]


def test_a_non_target_lesion_reappearing_after_a_confirmed_cr_is_pd() -> None:
    baselines, targets = one_lesion_course([20, 0, 0, 0], [0, 56, 112, 168])
    non_targets = pl.DataFrame(
        {
            "subject": ["001"] * 4,
            "date": [day(0), day(56), day(112), day(168)],
            "lesion": ["N1"] * 4,
            "status": ["present", "absent", "absent", "present"],
        }
    )
    frame = time_point_responses(baselines, targets, non_targets).frame
    assert frame["overall"].to_list() == ["CR", "CR", "PD"]


def test_the_best_response_of_a_cr_then_reappearance_stays_cr_and_counts_the_progression() -> None:
    assert bor([20, 0, 0, 4], [0, 56, 112, 168]) == "CR"


def test_without_a_confirmed_cr_a_reappearing_lesion_is_judged_on_the_sum() -> None:
    # The CR is not confirmed (4 weeks needed): the first reading was probably a PR (table 3
    # footnote), so the 4 mm lesion is measured against baseline and the nadir as usual.
    baselines, targets = one_lesion_course([20, 0, 4], [0, 56, 70])
    frame = time_point_responses(baselines, targets).frame
    assert frame["overall"].to_list() == ["CR", "PR"]


def test_when_the_plan_needs_no_confirmation_one_cr_is_enough_for_reappearance_to_be_pd() -> None:
    baselines, targets = one_lesion_course([20, 0, 4], [0, 56, 70])
    settings = AnalysisSettings(response=ResponseRules(confirmation=False))
    frame = time_point_responses(baselines, targets, settings=settings).frame
    assert frame["overall"].to_list() == ["CR", "PD"]


def test_time_point_and_best_response_print_only_the_response_rules() -> None:
    baselines, targets = one_lesion_course([100, 60, 65], [0, 56, 84])
    responses = time_point_responses(baselines, targets)
    references = pl.DataFrame({"subject": ["001"], "reference": [DAY0]})
    for result in (responses, best_overall_response(responses, references)):
        text = str(result)
        assert "RECIST 1.1: CR/PR confirmed" in text
        assert "Cox ties" not in text
        assert "PFS:" not in text
        assert "treatment-emergent" not in text
        assert "Kaplan-Meier interval" not in text
