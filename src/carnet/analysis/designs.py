"""Sample sizes and decision rules for phase II and III designs (exact where the test is exact)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
from scipy import optimize, stats

from carnet.analysis._checks import require_positive, require_probability
from carnet.analysis.errors import AnalysisInputError


def _require_p1_above_p0(p0: float, p1: float) -> None:
    require_probability("p0", p0)
    require_probability("p1", p1)
    if p1 <= p0:
        raise AnalysisInputError(
            f"p1 (response rate worth pursuing, {p1}) must exceed p0 (uninteresting rate, {p0}).",
            parameter="p1",
        )


@dataclass(frozen=True)
class SimonDesign:
    """A Simon two-stage design: stop after stage 1 if responses <= r1 of n1; active if > r of n.

    Attributes
    ----------
    kind
        ``"optimal"`` (least expected size under p0) or ``"minimax"`` (least maximum size).
    r1, n1, r, n
        Stage-1 futility bound and size; final bound and total size.
    expected_size
        Expected number of patients under p0.
    early_stop_probability
        Probability of stopping after stage 1 under p0.
    alpha, power
        Exact one-sided type I error under p0 and power under p1.
    """

    kind: str
    p0: float
    p1: float
    alpha_requested: float
    power_requested: float
    r1: int
    n1: int
    r: int
    n: int
    expected_size: float
    early_stop_probability: float
    alpha: float
    power: float
    searched_to: int
    proven: bool

    def __str__(self) -> str:
        if self.proven:
            proof = (
                f"proven {self.kind}: every design up to n {self.searched_to} searched, none "
                "larger can do better"
            )
        else:
            proof = (
                f"NOT proven {self.kind}: the search stopped at n_max {self.searched_to}; a better "
                "design may need more patients"
            )
        return (
            f"Simon two-stage {self.kind} design, p0 {self.p0:g}, p1 {self.p1:g} "
            f"(one-sided alpha {self.alpha_requested:g}, power {self.power_requested:g}): "
            f"stage 1 stop if <= {self.r1}/{self.n1} responses; active if > {self.r}/{self.n}. "
            f"EN(p0) {self.expected_size:.1f}, PET(p0) {self.early_stop_probability:.2f}, "
            f"exact alpha {self.alpha:.4f}, exact power {self.power:.4f} "
            f"(exact binomial search, Simon 1989; {proof})."
        )


def simon_two_stage(
    p0: float, p1: float, *, alpha: float = 0.05, power: float = 0.80, n_max: int | None = None
) -> tuple[SimonDesign, SimonDesign]:
    """Return the optimal and minimax Simon two-stage designs by exhaustive exact binomial search.

    Every (n1, n, r1, r) is tried; a design qualifies when its exact type I error under p0 is
    <= alpha and its exact power under p1 is >= power. The optimal design has the least expected
    size under p0, the minimax the least n (ties broken by expected size), as in Simon (1989) and
    R clinfun's ``ph2simon``.

    Without ``n_max`` the search goes on until the optimum is proven: a design of total size n
    with first stage n1 has EN(p0) >= n1 + c(n1) (n - n1), where c(n1) is the least probability
    under p0 of going on to stage 2 among stage-1 rules that keep the power (the power cannot
    exceed the probability of going on under p1); once that bound exceeds the best EN found for
    every n1, no larger design can do better. With ``n_max`` the search stops there and the
    result says whether the optimum was proven within it (``proven``).

    Examples
    --------
    >>> optimal, minimax = simon_two_stage(0.10, 0.30, alpha=0.05, power=0.80)
    >>> (optimal.r1, optimal.n1, optimal.r, optimal.n), round(optimal.expected_size, 1)
    ((1, 10, 5, 29), 15.0)
    >>> (minimax.r1, minimax.n1, minimax.r, minimax.n), optimal.proven
    ((1, 15, 5, 25), True)
    """
    _require_p1_above_p0(p0, p1)
    require_probability("alpha", alpha)
    require_probability("power", power)
    if n_max is not None and n_max < 2:
        raise AnalysisInputError(f"n_max must be at least 2, got {n_max}.", parameter="n_max")
    # A search beyond this many patients is no phase II design any more.
    ceiling = n_max if n_max is not None else _SIMON_CEILING
    limit = min(ceiling, 100)
    candidates: list[_Candidate] = []
    searched = 1
    while True:
        tables = [_BinomialTables(p, limit) for p in (p0, p1)]
        for n in range(searched + 1, limit + 1):
            candidates.extend(_simon_designs_of_size(n, tables, alpha, power))
        searched = limit
        if not candidates:
            if limit >= ceiling:
                raise AnalysisInputError(
                    f"No two-stage design with at most {limit} patients reaches alpha {alpha} "
                    f"and power {power}; raise n_max.",
                    parameter="n_max",
                )
            limit = min(ceiling, 2 * limit)
            continue
        best = min(c[0] for c in candidates)
        needed = _simon_proof_bound(p0, p1, power, best)
        if needed <= searched or limit >= ceiling:
            break
        limit = min(ceiling, needed)
    optimal = min(candidates, key=lambda c: (c[0], c[4], c[1]))
    least_n = min(c[4] for c in candidates)
    minimax = min((c for c in candidates if c[4] == least_n), key=lambda c: (c[0], c[1]))
    proven = _simon_proof_bound(p0, p1, power, optimal[0]) <= searched

    def build(kind: str, c: _Candidate, proven: bool) -> SimonDesign:
        expected, n1, r1, r, n, pet, exact_alpha, exact_power = c
        return SimonDesign(
            kind,
            p0,
            p1,
            alpha,
            power,
            r1,
            n1,
            r,
            n,
            expected,
            pet,
            exact_alpha,
            exact_power,
            searched,
            proven,
        )

    # The minimax size is the least n with a qualifying design; every smaller n was searched.
    return build("optimal", optimal, proven), build("minimax", minimax, True)


_SIMON_CEILING = 1000
_Candidate = tuple[float, int, int, int, int, float, float, float]


def _simon_proof_bound(p0: float, p1: float, power: float, best_expected: float) -> int:
    """Return a size beyond which no two-stage design has EN(p0) below ``best_expected``."""
    bound = 0.0
    for n1 in range(1, math.ceil(best_expected)):
        # Stage-1 rules "stop if <= r1" that keep P1(go on) >= power: r1 <= the largest such one,
        # and a smaller r1 only raises P0(go on). r1 = -1 is "never stop".
        go_on_p1 = stats.binom.sf(np.arange(-1, n1), n1, p1)
        r1 = int(np.nonzero(go_on_p1 >= power - 1e-12)[0].max()) - 1
        go_on_p0 = float(stats.binom.sf(r1, n1, p0))
        bound = max(bound, n1 + (best_expected - n1) / go_on_p0)
    return math.ceil(bound)


class _BinomialTables:
    """Binomial point masses and upper tails for every size up to n_max, computed once."""

    def __init__(self, p: float, n_max: int) -> None:
        self.offset = n_max + 1
        counts = np.arange(-self.offset, n_max + 1)
        self.pmf = [stats.binom.pmf(np.arange(m + 1), m, p) for m in range(n_max + 1)]
        # tail[m][k + offset] = P(X > k) for X ~ Bin(m, p), k from -(n_max + 1) to n_max.
        self.tail = [stats.binom.sf(counts, m, p) for m in range(n_max + 1)]
        self.cdf = [stats.binom.cdf(np.arange(m + 1), m, p) for m in range(n_max + 1)]


def _simon_designs_of_size(
    n: int, tables: list[_BinomialTables], alpha: float, power: float
) -> list[_Candidate]:
    """Return, for total size n, the best qualifying design for each n1 (least EN)."""
    found = []
    r_values = np.arange(n + 1)
    for n1 in range(1, n):
        n2 = n - n1
        x1 = np.arange(n1 + 1)
        rejection = []
        for table in tables:
            # P(X2 > r - x1) for every stage-1 count x1 (rows) and final bound r (columns).
            tail2 = table.tail[n2][r_values[None, :] - x1[:, None] + table.offset]
            joint = table.pmf[n1][:, None] * tail2
            # Sum over x1 > r1: reverse cumulative sum, shifted so row r1 holds x1 >= r1 + 1.
            above = np.cumsum(joint[::-1], axis=0)[::-1]
            rejection.append(np.vstack([above[1:], np.zeros((1, n + 1))]))
        alpha_exact, power_exact = rejection
        r1_grid, r_grid = np.meshgrid(np.arange(n1 + 1), r_values, indexing="ij")
        # A tiny slack so a design exactly at the requested level is not lost to rounding.
        ok = (
            (alpha_exact <= alpha + 1e-12)
            & (power_exact >= power - 1e-12)
            & (r_grid >= r1_grid)
            & (r1_grid < n1)
        )
        if not ok.any():
            continue
        pet = tables[0].cdf[n1]
        expected = n1 + (1 - pet) * n2
        r1_options, r_options = np.nonzero(ok)
        best = int(np.argmin(expected[r1_options] + r_options * 1e-9))
        r1, r = int(r1_options[best]), int(r_options[best])
        found.append(
            (
                float(expected[r1]),
                n1,
                r1,
                r,
                n,
                float(pet[r1]),
                float(alpha_exact[r1, r]),
                float(power_exact[r1, r]),
            )
        )
    return found


@dataclass(frozen=True)
class SingleStageDesign:
    """An exact single-stage phase II design: active if responses >= r among n (A'Hern 2001)."""

    p0: float
    p1: float
    alpha_requested: float
    power_requested: float
    n: int
    r: int
    alpha: float
    power: float

    def __str__(self) -> str:
        return (
            f"A'Hern exact single stage, p0 {self.p0:g}, p1 {self.p1:g} (one-sided alpha "
            f"{self.alpha_requested:g}, power {self.power_requested:g}): n = {self.n}, active "
            f"with >= {self.r} responses; exact alpha {self.alpha:.4f}, power {self.power:.4f}."
        )


def ahern_single_stage(
    p0: float, p1: float, *, alpha: float = 0.05, power: float = 0.80, n_max: int = 1000
) -> SingleStageDesign:
    """Return the smallest exact single-stage design (A'Hern 2001): active if >= r of n respond.

    Examples
    --------
    >>> design = ahern_single_stage(0.05, 0.20, alpha=0.05, power=0.80)
    >>> design.n, design.r
    (27, 4)
    """
    _require_p1_above_p0(p0, p1)
    require_probability("alpha", alpha)
    require_probability("power", power)
    for n in range(1, n_max + 1):
        counts = np.arange(n + 1)
        # P(X >= r) = sf(r - 1).
        alpha_exact = stats.binom.sf(counts - 1, n, p0)
        power_exact = stats.binom.sf(counts - 1, n, p1)
        ok = np.nonzero((alpha_exact <= alpha) & (power_exact >= power))[0]
        if ok.size:
            r = int(ok[0])
            return SingleStageDesign(
                p0, p1, alpha, power, n, r, float(alpha_exact[r]), float(power_exact[r])
            )
    raise AnalysisInputError(
        f"No single-stage design with at most {n_max} patients reaches the request.",
        parameter="n_max",
    )


class EventsFormula(StrEnum):
    """Formula giving the number of events a log-rank comparison needs."""

    SCHOENFELD = "schoenfeld"
    FREEDMAN = "freedman"


@dataclass(frozen=True)
class SurvivalSampleSize:
    """Events, then patients, for a two-arm log-rank comparison."""

    formula: EventsFormula
    hazard_ratio: float
    alpha: float
    power: float
    allocation: float
    events_exact: float
    events: int
    patients: int | None
    event_probability: float | None
    accrual_duration: float | None
    follow_up_duration: float | None
    control_median: float | None

    def __str__(self) -> str:
        text = (
            f"{self.formula.value.capitalize()} events for HR {self.hazard_ratio:g}, two-sided "
            f"alpha {self.alpha:g}, power {self.power:g}, experimental fraction "
            f"{self.allocation:g}: {self.events_exact:.1f}, so {self.events} events."
        )
        if self.patients is not None:
            text += (
                f" With uniform accrual over {self.accrual_duration:g}, follow-up "
                f"{self.follow_up_duration:g} after the last patient and exponential survival "
                f"(control median {self.control_median:g}), P(event) "
                f"{self.event_probability:.3f}: {self.patients} patients."
            )
        return text


def survival_sample_size(
    hazard_ratio: float,
    *,
    alpha: float = 0.05,
    power: float = 0.80,
    allocation: float = 0.5,
    formula: EventsFormula = EventsFormula.SCHOENFELD,
    control_median: float | None = None,
    accrual_duration: float | None = None,
    follow_up_duration: float | None = None,
) -> SurvivalSampleSize:
    """Return the events a two-sided log-rank test needs, and patients if durations are given.

    Schoenfeld (1981): D = (z_{1-a/2} + z_{1-b})^2 / (q (1 - q) log(HR)^2), q the experimental
    fraction. Freedman (1982): D = (z_{1-a/2} + z_{1-b})^2 (1 + k HR)^2 / (k (1 - HR)^2), with
    k = q / (1 - q). Patients: D divided by the probability of an event under exponential survival
    with uniform accrual over ``accrual_duration`` and ``follow_up_duration`` after the last
    patient (no dropout), averaged over the arms by allocation.

    Examples
    --------
    >>> size = survival_sample_size(0.75, alpha=0.05, power=0.80)
    >>> round(size.events_exact, 1), size.events
    (379.4, 380)
    """
    require_positive("hazard_ratio", hazard_ratio)
    if hazard_ratio == 1:
        raise AnalysisInputError(
            "hazard_ratio must differ from 1 to be detected.", parameter="hazard_ratio"
        )
    require_probability("alpha", alpha)
    require_probability("power", power)
    require_probability("allocation", allocation)
    formula = EventsFormula(formula)
    z = stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power)
    if formula is EventsFormula.SCHOENFELD:
        events = z**2 / (allocation * (1 - allocation) * math.log(hazard_ratio) ** 2)
    else:
        ratio = allocation / (1 - allocation)
        events = z**2 * (1 + ratio * hazard_ratio) ** 2 / (ratio * (1 - hazard_ratio) ** 2)
    durations = (control_median, accrual_duration, follow_up_duration)
    patients = probability = None
    if any(d is not None for d in durations):
        if control_median is None or accrual_duration is None or follow_up_duration is None:
            raise AnalysisInputError(
                "Patients need control_median, accrual_duration and follow_up_duration together.",
                parameter="control_median" if control_median is None else "accrual_duration",
            )
        require_positive("control_median", control_median)
        require_positive("accrual_duration", accrual_duration)
        if follow_up_duration < 0:
            raise AnalysisInputError(
                "follow_up_duration cannot be negative.", parameter="follow_up_duration"
            )
        control_hazard = math.log(2) / control_median
        probability = (1 - allocation) * _event_probability(
            control_hazard, accrual_duration, follow_up_duration
        ) + allocation * _event_probability(
            control_hazard * hazard_ratio, accrual_duration, follow_up_duration
        )
        patients = math.ceil(math.ceil(events) / probability)
    return SurvivalSampleSize(
        formula,
        hazard_ratio,
        alpha,
        power,
        allocation,
        float(events),
        math.ceil(events),
        patients,
        probability,
        accrual_duration,
        follow_up_duration,
        control_median,
    )


def _event_probability(hazard: float, accrual: float, follow_up: float) -> float:
    """Return P(event by analysis) under exponential survival and uniform accrual."""
    return 1 - (math.exp(-hazard * follow_up) - math.exp(-hazard * (accrual + follow_up))) / (
        hazard * accrual
    )


@dataclass(frozen=True)
class TwoProportionsSampleSize:
    """Patients per arm to compare two proportions with a two-sided normal test."""

    p_control: float
    p_experimental: float
    alpha: float
    power: float
    continuity_correction: bool
    per_arm_exact: float
    per_arm: int

    def __str__(self) -> str:
        correction = "with" if self.continuity_correction else "without"
        return (
            f"Two proportions {self.p_control:g} vs {self.p_experimental:g}, two-sided alpha "
            f"{self.alpha:g}, power {self.power:g} (Fleiss, {correction} continuity "
            f"correction): {self.per_arm} per arm ({self.per_arm_exact:.1f})."
        )


def two_proportions_sample_size(
    p_control: float,
    p_experimental: float,
    *,
    alpha: float = 0.05,
    power: float = 0.80,
    continuity_correction: bool = False,
) -> TwoProportionsSampleSize:
    """Return patients per arm (1:1) to compare two proportions (Fleiss, Levin and Paik 2003).

    n = [z_{1-a/2} sqrt(2 pbar qbar) + z_{1-b} sqrt(p1 q1 + p2 q2)]^2 / (p1 - p2)^2, optionally
    with the Fleiss continuity correction n/4 (1 + sqrt(1 + 4 / (n |p1 - p2|)))^2.

    Examples
    --------
    >>> two_proportions_sample_size(0.5, 0.7).per_arm
    93
    """
    require_probability("p_control", p_control)
    require_probability("p_experimental", p_experimental)
    require_probability("alpha", alpha)
    require_probability("power", power)
    if p_control == p_experimental:
        raise AnalysisInputError(
            "p_experimental must differ from p_control.", parameter="p_experimental"
        )
    difference = abs(p_control - p_experimental)
    mean = (p_control + p_experimental) / 2
    n = (
        stats.norm.ppf(1 - alpha / 2) * math.sqrt(2 * mean * (1 - mean))
        + stats.norm.ppf(power)
        * math.sqrt(p_control * (1 - p_control) + p_experimental * (1 - p_experimental))
    ) ** 2 / difference**2
    if continuity_correction:
        n = n / 4 * (1 + math.sqrt(1 + 4 / (n * difference))) ** 2
    return TwoProportionsSampleSize(
        p_control,
        p_experimental,
        alpha,
        power,
        continuity_correction,
        float(n),
        math.ceil(n - 1e-9),
    )


class SpendingFunction(StrEnum):
    """Lan-DeMets alpha-spending function."""

    OBRIEN_FLEMING = "obrien-fleming"  # 2 - 2 Phi(z_{1-a/2} / sqrt(t))
    POCOCK = "pocock"  # a log(1 + (e - 1) t)


@dataclass(frozen=True)
class GroupSequentialBoundaries:
    """Efficacy boundaries (Z scale) at each interim analysis, from Lan-DeMets alpha spending."""

    spending: SpendingFunction
    alpha: float
    sides: int
    information_fractions: tuple[float, ...]
    z_boundaries: tuple[float, ...]
    nominal_p_values: tuple[float, ...]
    cumulative_alpha: tuple[float, ...]

    def __str__(self) -> str:
        lines = [
            f"Lan-DeMets {self.spending.value} alpha spending, {self.sides}-sided alpha "
            f"{self.alpha:g}:",
            "  t       Z boundary  nominal p   cumulative alpha",
        ]
        for t, z, p, a in zip(
            self.information_fractions,
            self.z_boundaries,
            self.nominal_p_values,
            self.cumulative_alpha,
            strict=True,
        ):
            lines.append(f"  {t:<6.3f}  {z:10.4f}  {p:9.5f}   {a:.5f}")
        return "\n".join(lines)


def _spent(spending: SpendingFunction, alpha: float, t: float) -> float:
    if spending is SpendingFunction.OBRIEN_FLEMING:
        return float(2 - 2 * stats.norm.cdf(stats.norm.ppf(1 - alpha / 2) / math.sqrt(t)))
    return alpha * math.log(1 + (math.e - 1) * t)


def group_sequential_boundaries(
    information_fractions: Sequence[float],
    *,
    alpha: float = 0.05,
    spending: SpendingFunction = SpendingFunction.OBRIEN_FLEMING,
    sides: int = 2,
) -> GroupSequentialBoundaries:
    """Return Z boundaries for interim analyses by Lan-DeMets alpha spending (Lan and DeMets 1983).

    The boundary at each look is the one whose exact crossing probability, given no earlier
    crossing, equals the alpha spent since the last look; the joint law of the Z statistics is
    integrated numerically on the score scale (Armitage, McPherson and Rowe 1969). With
    ``sides=2`` the boundaries are symmetric (|Z| >= c) and alpha is the two-sided total.

    Examples
    --------
    >>> bounds = group_sequential_boundaries([0.2, 0.4, 0.6, 0.8, 1.0], alpha=0.05)
    >>> [round(z, 2) for z in bounds.z_boundaries]
    [4.88, 3.36, 2.68, 2.29, 2.03]
    """
    require_probability("alpha", alpha)
    spending = SpendingFunction(spending)
    if sides not in (1, 2):
        raise AnalysisInputError(f"sides must be 1 or 2, got {sides}.", parameter="sides")
    fractions = [float(t) for t in information_fractions]
    if not fractions or any(not 0 < t <= 1 for t in fractions):
        raise AnalysisInputError(
            "information_fractions must be a non-empty list of values in (0, 1].",
            parameter="information_fractions",
        )
    if any(b <= a for a, b in itertools.pairwise(fractions)):
        raise AnalysisInputError(
            "information_fractions must increase strictly.", parameter="information_fractions"
        )
    # Grid on the score scale S_k = Z_k sqrt(t_k); density of S over the continuation region.
    step = 0.01
    grid = np.zeros(1)
    density = np.ones(1)  # a point mass at S = 0 before the first look
    previous_t = 0.0
    previous_spent = 0.0
    boundaries: list[float] = []
    spent_list: list[float] = []
    for t in fractions:
        # Symmetric two-sided boundaries spend alpha / 2 on each side (as ldbounds, gsDesign).
        spent = sides * _spent(spending, alpha / sides, t)
        target = spent - previous_spent
        sd = math.sqrt(t - previous_t)
        weights = _simpson_weights(grid, density)

        def crossing(
            c: float,
            t: float = t,
            sd: float = sd,
            weights: np.ndarray = weights,
            grid: np.ndarray = grid,
        ) -> float:
            upper = stats.norm.sf((c * math.sqrt(t) - grid) / sd)
            if sides == 2:
                upper = upper + stats.norm.cdf((-c * math.sqrt(t) - grid) / sd)
            return float(np.dot(weights, upper))

        c = float(
            optimize.brentq(lambda c, target=target: crossing(c) - target, 0.0, 40.0, xtol=1e-10)
        )
        boundaries.append(c)
        spent_list.append(spent)
        lower = -c * math.sqrt(t) if sides == 2 else -8.0 * math.sqrt(t) - 8.0
        new_grid = _odd_grid(lower, c * math.sqrt(t), step)
        kernel = stats.norm.pdf((new_grid[:, None] - grid[None, :]) / sd) / sd
        density = kernel @ weights
        grid = new_grid
        previous_t, previous_spent = t, spent
    nominal = tuple(float(stats.norm.sf(c) * sides) for c in boundaries)
    return GroupSequentialBoundaries(
        spending,
        alpha,
        sides,
        tuple(fractions),
        tuple(boundaries),
        nominal,
        tuple(spent_list),
    )


def _simpson_weights(grid: np.ndarray, density: np.ndarray) -> np.ndarray:
    """Return Simpson integration weights times the density (a point mass passes through)."""
    if grid.size == 1:
        return density
    step = float(grid[1] - grid[0])
    coefficients = np.ones(grid.size)
    coefficients[1:-1:2] = 4
    coefficients[2:-1:2] = 2
    return coefficients * density * step / 3


def _odd_grid(lower: float, upper: float, step: float) -> np.ndarray:
    """Return an evenly spaced grid with an odd number of points, as Simpson's rule needs."""
    intervals = 2 * math.ceil((upper - lower) / step / 2)
    return np.linspace(lower, upper, intervals + 1)


__all__ = [
    "EventsFormula",
    "GroupSequentialBoundaries",
    "SimonDesign",
    "SingleStageDesign",
    "SpendingFunction",
    "SurvivalSampleSize",
    "TwoProportionsSampleSize",
    "ahern_single_stage",
    "group_sequential_boundaries",
    "simon_two_stage",
    "survival_sample_size",
    "two_proportions_sample_size",
]
