"""Phase II and III designs: published boundaries, exactness properties, refused requests."""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from carnet.analysis import (
    AnalysisInputError,
    EventsFormula,
    SpendingFunction,
    group_sequential_boundaries,
    group_sequential_design,
    simon_two_stage,
    survival_sample_size,
    two_proportions_sample_size,
)


def simon_rejection(r1: int, n1: int, r: int, n: int, p: float) -> float:
    """P(X1 > r1 and X1 + X2 > r), written independently of the search."""
    return sum(
        stats.binom.pmf(x1, n1, p) * stats.binom.sf(r - x1, n - n1, p)
        for x1 in range(r1 + 1, n1 + 1)
    )


@settings(max_examples=12, deadline=None)
@given(
    st.sampled_from([0.05, 0.10, 0.15, 0.20, 0.30]),
    st.sampled_from([0.15, 0.20, 0.25]),
    st.sampled_from([0.05, 0.10]),
    st.sampled_from([0.80, 0.90]),
)
def test_a_simon_designs_exact_alpha_and_power_meet_the_request(
    p0: float, gain: float, alpha: float, power: float
) -> None:
    p1 = round(p0 + gain, 2)
    for design in simon_two_stage(p0, p1, alpha=alpha, power=power, n_max=90):
        assert design.alpha <= alpha
        assert design.power >= power
        assert design.alpha == pytest.approx(
            simon_rejection(design.r1, design.n1, design.r, design.n, p0)
        )
        assert design.power == pytest.approx(
            simon_rejection(design.r1, design.n1, design.r, design.n, p1)
        )
        pet = stats.binom.cdf(design.r1, design.n1, p0)
        assert design.early_stop_probability == pytest.approx(pet)
        assert design.expected_size == pytest.approx(design.n1 + (1 - pet) * (design.n - design.n1))


def test_the_minimax_design_is_never_larger_and_the_optimal_never_longer_on_average() -> None:
    optimal, minimax = simon_two_stage(0.3, 0.5)
    assert minimax.n <= optimal.n
    assert optimal.expected_size <= minimax.expected_size
    assert "exact alpha" in str(optimal)
    assert "optimal" in str(optimal)


@pytest.mark.parametrize(
    ("p0", "p1", "parameter"),
    [(0.3, 0.3, "p1"), (0.3, 0.2, "p1"), (0.0, 0.2, "p0"), (0.1, 1.0, "p1")],
)
def test_a_response_rate_not_above_p0_is_refused_naming_it(
    p0: float, p1: float, parameter: str
) -> None:
    with pytest.raises(AnalysisInputError) as error:
        simon_two_stage(p0, p1)
    assert error.value.parameter == parameter
    assert parameter in str(error.value)


@pytest.mark.parametrize("alpha", [0.0, 1.0, -0.1, 1.5, math.nan])
def test_an_alpha_outside_zero_one_is_refused(alpha: float) -> None:
    with pytest.raises(AnalysisInputError, match="alpha") as error:
        simon_two_stage(0.1, 0.3, alpha=alpha)
    assert error.value.parameter == "alpha"
    with pytest.raises(AnalysisInputError, match="alpha"):
        survival_sample_size(0.7, alpha=alpha)


def test_freedman_needs_slightly_more_events_than_schoenfeld() -> None:
    # (1.96 + 0.8416)^2 (1 + 0.75)^2 / (1 - 0.75)^2 = 384.6 (Freedman 1982, 1:1).
    size = survival_sample_size(0.75, formula=EventsFormula.FREEDMAN)
    assert round(size.events_exact, 1) == 384.6
    assert size.events == 385


def test_patients_follow_from_events_and_the_probability_of_an_event() -> None:
    size = survival_sample_size(0.75, control_median=12, accrual_duration=24, follow_up_duration=12)
    assert size.event_probability is not None
    assert size.patients is not None
    # Control arm alone: 1 - (e^{-l f} - e^{-l (a + f)}) / (l a), l = log 2 / 12.
    hazard = math.log(2) / 12
    control = 1 - (math.exp(-hazard * 12) - math.exp(-hazard * 36)) / (hazard * 24)
    experimental_hazard = hazard * 0.75
    experimental = 1 - (
        math.exp(-experimental_hazard * 12) - math.exp(-experimental_hazard * 36)
    ) / (experimental_hazard * 24)
    assert size.event_probability == pytest.approx((control + experimental) / 2)
    assert size.patients == math.ceil(380 / size.event_probability)
    assert "patients" in str(size)


def test_longer_follow_up_needs_fewer_patients_for_the_same_events() -> None:
    short = survival_sample_size(0.7, control_median=10, accrual_duration=20, follow_up_duration=6)
    long = survival_sample_size(0.7, control_median=10, accrual_duration=20, follow_up_duration=24)
    assert short.events == long.events
    assert long.patients is not None
    assert short.patients is not None
    assert long.patients < short.patients


def test_two_proportions_reach_the_requested_power_by_the_normal_approximation() -> None:
    size = two_proportions_sample_size(0.5, 0.7, alpha=0.05, power=0.8)
    n = size.per_arm_exact
    p1, p2 = 0.5, 0.7
    pbar = (p1 + p2) / 2
    z_alpha = stats.norm.ppf(0.975)
    spread = math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))
    achieved = stats.norm.cdf(
        (abs(p1 - p2) * math.sqrt(n) - z_alpha * math.sqrt(2 * pbar * (1 - pbar))) / spread
    )
    assert achieved == pytest.approx(0.8, abs=1e-9)
    corrected = two_proportions_sample_size(0.5, 0.7, continuity_correction=True)
    assert corrected.per_arm > size.per_arm


def test_obrien_fleming_type_boundaries_match_lan_demets_tables() -> None:
    # Convention: Lan-DeMets O'Brien-Fleming-type spending, 5 equally spaced looks,
    # one-sided alpha 0.025 (as gsDesign and ldbounds print them to 2 decimals).
    bounds = group_sequential_boundaries(
        [0.2, 0.4, 0.6, 0.8, 1.0], alpha=0.025, sides=1, spending=SpendingFunction.OBRIEN_FLEMING
    )
    assert [round(z, 2) for z in bounds.z_boundaries] == [4.88, 3.36, 2.68, 2.29, 2.03]
    assert bounds.cumulative_alpha[-1] == pytest.approx(0.025)


def test_pocock_type_boundaries_match_lan_demets_tables() -> None:
    # Convention: Lan-DeMets Pocock-type spending, 5 equally spaced looks, two-sided alpha 0.05.
    bounds = group_sequential_boundaries(
        [0.2, 0.4, 0.6, 0.8, 1.0], alpha=0.05, sides=2, spending=SpendingFunction.POCOCK
    )
    assert [round(z, 2) for z in bounds.z_boundaries] == [2.44, 2.43, 2.41, 2.40, 2.39]


def test_a_single_look_spends_all_alpha_at_the_fixed_sample_boundary() -> None:
    bounds = group_sequential_boundaries([1.0], alpha=0.05, sides=2)
    assert bounds.z_boundaries[0] == pytest.approx(stats.norm.ppf(0.975), abs=1e-6)


@pytest.mark.parametrize("fractions", [[], [0.5, 0.5], [0.0, 1.0], [0.6, 0.3], [0.5, 1.2]])
def test_information_fractions_must_increase_within_zero_and_one(fractions: list[float]) -> None:
    with pytest.raises(AnalysisInputError) as error:
        group_sequential_boundaries(fractions)
    assert error.value.parameter == "information_fractions"


def test_the_optimal_simon_design_is_searched_beyond_100_patients_until_proven() -> None:
    # Found by validation: with the search cut at n = 100 the "optimal" design was 12/39, 37/100
    # (EN0 62.3) while 13/40, 40/110 (EN0 60.8) exists. Convention: one-sided alpha 0.05, beta 0.10.
    optimal, minimax = simon_two_stage(0.30, 0.45, alpha=0.05, power=0.90)
    assert (optimal.r1, optimal.n1, optimal.r, optimal.n) == (13, 40, 40, 110)
    assert round(optimal.expected_size, 1) == 60.8
    assert optimal.proven
    assert (minimax.r1, minimax.n1, minimax.r, minimax.n) == (27, 77, 33, 88)
    assert minimax.proven
    assert "proven" in str(optimal)


def test_a_simon_search_bounded_below_the_proof_says_so() -> None:
    optimal, minimax = simon_two_stage(0.30, 0.45, alpha=0.05, power=0.90, n_max=100)
    assert (optimal.r1, optimal.n1, optimal.r, optimal.n) == (12, 39, 37, 100)
    assert not optimal.proven
    assert "NOT proven" in str(optimal)
    assert "n_max 100" in str(optimal)
    # The minimax design needs no more than the smallest size that qualifies: proven anyway.
    assert minimax.proven


def test_a_binding_futility_bound_lets_the_efficacy_bound_come_down_and_spends_alpha_exactly() -> (
    None
):
    # No published table was found for binding futility; its definition is checked instead: with
    # the futility bound binding, the probability of crossing the efficacy bound under H0 (the
    # trial stopping at a futility crossing) equals alpha, and the efficacy bounds can only be
    # lower than the non-binding ones, which ignore the futility bound.
    looks = [0.25, 0.5, 0.75, 1.0]
    common = {
        "alpha": 0.025,
        "power": 0.9,
        "efficacy": SpendingFunction.OBRIEN_FLEMING,
        "futility": SpendingFunction.POCOCK,
    }
    binding = group_sequential_design(looks, binding=True, **common)
    free = group_sequential_design(looks, binding=False, **common)
    assert binding.alpha_with_futility == pytest.approx(0.025, abs=1e-6)
    assert free.alpha_with_futility < 0.025
    assert all(b <= f + 1e-9 for b, f in zip(binding.upper, free.upper, strict=True))
    assert binding.inflation < free.inflation
    for design in (binding, free):
        assert design.lower is not None
        assert design.lower[-1] == pytest.approx(design.upper[-1])
        assert design.cumulative_power[-1] == pytest.approx(0.9, abs=1e-6)
        assert design.cumulative_beta[-1] == pytest.approx(0.1, abs=1e-6)
        assert "binding" in str(design)


def test_the_sample_sizes_of_a_group_sequential_design_inflate_the_fixed_one() -> None:
    design = group_sequential_design([0.5, 1.0], futility=SpendingFunction.OBRIEN_FLEMING)
    looks = design.sample_sizes(380)
    assert looks[-1] == math.ceil(380 * design.inflation)
    assert looks[0] == math.ceil(380 * design.inflation * 0.5)


def test_a_futility_spending_parameter_is_needed_only_for_hwang_shih_decani() -> None:
    with pytest.raises(AnalysisInputError) as error:
        group_sequential_design(
            [0.5, 1.0], efficacy=SpendingFunction.HWANG_SHIH_DECANI, efficacy_parameter=None
        )
    assert error.value.parameter == "efficacy_parameter"


def test_dropout_raises_the_patients_for_the_same_events() -> None:
    common = {"control_median": 12, "accrual_duration": 24, "follow_up_duration": 12}
    without = survival_sample_size(0.75, **common)
    with_dropout = survival_sample_size(0.75, dropout_rate=0.1, dropout_time=12, **common)
    assert with_dropout.events == without.events
    assert with_dropout.patients is not None
    assert without.patients is not None
    assert with_dropout.patients > without.patients
    assert "dropout 10% by 12" in str(with_dropout)
    assert survival_sample_size(0.75, dropout_rate=0.0, dropout_time=12, **common) == without


def test_a_dropout_rate_needs_its_time_and_the_durations() -> None:
    with pytest.raises(AnalysisInputError) as error:
        survival_sample_size(
            0.75, control_median=12, accrual_duration=24, follow_up_duration=12, dropout_rate=0.1
        )
    assert error.value.parameter == "dropout_time"
    with pytest.raises(AnalysisInputError) as error:
        survival_sample_size(0.75, dropout_rate=0.1, dropout_time=12)
    assert error.value.parameter == "control_median"
