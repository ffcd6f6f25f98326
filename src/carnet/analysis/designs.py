"""Sample sizes and decision rules for phase II and III designs (exact where the test is exact)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

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
    # Start small and grow: the proof usually needs far fewer patients than a fixed bound of 100.
    limit = min(ceiling, 40)
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
            limit = min(ceiling, math.ceil(1.5 * limit))
            continue
        best = min(c[0] for c in candidates)
        needed = _simon_proof_bound(p0, p1, power, best)
        if needed <= searched or limit >= ceiling:
            break
        # Grow gradually: a better design found on the way tightens the bound (cost ~ n^4).
        limit = min(ceiling, needed, math.ceil(1.5 * limit))
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
    from scipy import stats

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
        from scipy import stats

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
    from scipy import stats

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
    dropout_rate: float = 0.0
    dropout_rate_experimental: float = 0.0
    dropout_time: float | None = None

    def __str__(self) -> str:
        text = (
            f"{self.formula.value.capitalize()} events for HR {self.hazard_ratio:g}, two-sided "
            f"alpha {self.alpha:g}, power {self.power:g}, experimental fraction "
            f"{self.allocation:g}: {self.events_exact:.1f}, so {self.events} events."
        )
        if self.patients is not None:
            if self.dropout_time is None:
                dropout = "no dropout"
            elif self.dropout_rate == self.dropout_rate_experimental:
                dropout = f"dropout {self.dropout_rate:.0%} by {self.dropout_time:g} (exponential)"
            else:
                dropout = (
                    f"dropout {self.dropout_rate:.0%} (control) and "
                    f"{self.dropout_rate_experimental:.0%} (experimental) by "
                    f"{self.dropout_time:g} (exponential)"
                )
            text += (
                f" With uniform accrual over {self.accrual_duration:g}, follow-up "
                f"{self.follow_up_duration:g} after the last patient, exponential survival "
                f"(control median {self.control_median:g}) and {dropout}, P(event) "
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
    dropout_rate: float = 0.0,
    dropout_rate_experimental: float | None = None,
    dropout_time: float | None = None,
) -> SurvivalSampleSize:
    """Return the events a two-sided log-rank test needs, and patients if durations are given.

    Schoenfeld (1981): D = (z_{1-a/2} + z_{1-b})^2 / (q (1 - q) log(HR)^2), q the experimental
    fraction. Freedman (1982): D = (z_{1-a/2} + z_{1-b})^2 (1 + k HR)^2 / (k (1 - HR)^2), with
    k = q / (1 - q). Patients: D divided by the probability of an event under exponential survival
    with uniform accrual over ``accrual_duration`` and ``follow_up_duration`` after the last
    patient, averaged over the arms by allocation. Dropout, when given, is the probability
    ``dropout_rate`` of leaving the study by ``dropout_time`` (control arm;
    ``dropout_rate_experimental`` for the other, the same by default), taken as an exponential
    competing risk of hazard -log(1 - rate) / time, as rpact does: a patient lost before the
    event never has it, so more patients are needed for the same events.

    Examples
    --------
    >>> size = survival_sample_size(0.75, alpha=0.05, power=0.80)
    >>> round(size.events_exact, 1), size.events
    (379.4, 380)
    """
    from scipy import stats

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
    experimental_dropout = (
        dropout_rate if dropout_rate_experimental is None else dropout_rate_experimental
    )
    for name, rate in (
        ("dropout_rate", dropout_rate),
        ("dropout_rate_experimental", experimental_dropout),
    ):
        if not (math.isfinite(rate) and 0 <= rate < 1):
            raise AnalysisInputError(f"{name} must lie in [0, 1), got {rate!r}.", parameter=name)
    dropping = dropout_rate > 0 or experimental_dropout > 0
    if dropping and dropout_time is None:
        raise AnalysisInputError(
            "A dropout rate needs dropout_time, the time by which that share has left.",
            parameter="dropout_time",
        )
    if dropout_time is not None:
        require_positive("dropout_time", dropout_time)
    if dropping and all(d is None for d in durations):
        raise AnalysisInputError(
            "Dropout changes patients, not events: give control_median, accrual_duration and "
            "follow_up_duration too.",
            parameter="control_median",
        )
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
        control_loss = _dropout_hazard(dropout_rate, dropout_time)
        experimental_loss = _dropout_hazard(experimental_dropout, dropout_time)
        probability = (1 - allocation) * _event_probability(
            control_hazard, accrual_duration, follow_up_duration, control_loss
        ) + allocation * _event_probability(
            control_hazard * hazard_ratio, accrual_duration, follow_up_duration, experimental_loss
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
        dropout_rate if dropping else 0.0,
        experimental_dropout if dropping else 0.0,
        dropout_time if dropping else None,
    )


def _dropout_hazard(rate: float, time: float | None) -> float:
    """Return the exponential hazard that loses ``rate`` of the patients by ``time``."""
    return 0.0 if rate == 0 or time is None else -math.log(1 - rate) / time


def _event_probability(hazard: float, accrual: float, follow_up: float, loss: float = 0.0) -> float:
    """Return P(event by analysis) under exponential survival, dropout and uniform accrual.

    With a dropout hazard, the event is one of two competing exits: it takes the share
    hazard / (hazard + loss) of the patients who leave the risk set by the analysis.
    """
    total = hazard + loss
    leave = 1 - (math.exp(-total * follow_up) - math.exp(-total * (accrual + follow_up))) / (
        total * accrual
    )
    return hazard / total * leave


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
    from scipy import stats

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
    """Error-spending function (for alpha, or for beta with a futility bound)."""

    OBRIEN_FLEMING = "obrien-fleming"  # Lan-DeMets: 2 - 2 Phi(z_{1-a/2} / sqrt(t))
    POCOCK = "pocock"  # Lan-DeMets: a log(1 + (e - 1) t)
    HWANG_SHIH_DECANI = "hwang-shih-decani"  # a (1 - e^{-g t}) / (1 - e^{-g}); gsDesign's default


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


def _spent(
    spending: SpendingFunction, alpha: float, t: float, parameter: float | None = None
) -> float:
    """Return the error spent by information fraction t out of a total ``alpha``."""
    from scipy import stats

    if spending is SpendingFunction.OBRIEN_FLEMING:
        return float(2 - 2 * stats.norm.cdf(stats.norm.ppf(1 - alpha / 2) / math.sqrt(t)))
    if spending is SpendingFunction.HWANG_SHIH_DECANI:
        gamma = float(parameter if parameter is not None else -4.0)
        if gamma == 0:
            return alpha * t
        return alpha * (1 - math.exp(-gamma * t)) / (1 - math.exp(-gamma))
    return alpha * math.log(1 + (math.e - 1) * t)


def _spending_text(spending: SpendingFunction, parameter: float | None) -> str:
    if spending is SpendingFunction.HWANG_SHIH_DECANI:
        return f"Hwang-Shih-DeCani (gamma {parameter:g})"
    return f"Lan-DeMets {spending.value}-type"


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
    from scipy import optimize, stats

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


@dataclass(frozen=True)
class GroupSequentialDesign:
    """A one-sided group-sequential design: efficacy bounds, futility bounds, inflation.

    Attributes
    ----------
    upper
        Efficacy bounds on the Z scale (reject H0 when Z >= bound).
    lower
        Futility bounds on the Z scale (stop for futility when Z < bound); ``None`` without
        futility. The last equals the last efficacy bound.
    inflation
        Maximum information (events or patients) over that of the fixed design with the same
        alpha and power: multiply the fixed sample size by it.
    cumulative_alpha, cumulative_beta
        Error spent by each look (beta: probability of stopping for futility under H1).
    cumulative_power
        Probability of having crossed the efficacy bound by each look under H1.
    futility_h0, futility_h1
        Probability of crossing the futility bound at each look under H0 and H1.
    alpha_with_futility
        Type I error once the futility bound is obeyed (below alpha when it is non-binding).
    """

    information_fractions: tuple[float, ...]
    alpha: float
    power: float
    efficacy: SpendingFunction
    efficacy_parameter: float | None
    futility: SpendingFunction | None
    futility_parameter: float | None
    binding: bool
    upper: tuple[float, ...]
    lower: tuple[float, ...] | None
    inflation: float
    cumulative_alpha: tuple[float, ...]
    cumulative_beta: tuple[float, ...] | None
    cumulative_power: tuple[float, ...]
    futility_h0: tuple[float, ...] | None
    futility_h1: tuple[float, ...] | None
    alpha_with_futility: float

    def sample_sizes(self, fixed: float) -> tuple[int, ...]:
        """Return the cumulative size (patients or events) at each look, from the fixed one."""
        require_positive("fixed", fixed)
        return tuple(
            math.ceil(fixed * self.inflation * t - 1e-9) for t in self.information_fractions
        )

    def conventions(self) -> str:
        """Return the conventions the design was computed with, as one sentence."""
        text = (
            f"One-sided alpha {self.alpha:g}, power {self.power:g}; efficacy bound by "
            f"{_spending_text(self.efficacy, self.efficacy_parameter)} alpha spending"
        )
        if self.futility is None:
            return text + "; no futility bound; Z scale, numerical integration (Armitage 1969)."
        kind = "binding" if self.binding else "non-binding"
        return (
            text + f"; {kind} futility bound by "
            f"{_spending_text(self.futility, self.futility_parameter)} beta spending; Z scale, "
            "numerical integration (Armitage 1969)."
        )

    def __str__(self) -> str:
        lines = [
            "Group-sequential design: " + self.conventions(),
            f"Sample size inflation {self.inflation:.4f} over the fixed design.",
            "  t       efficacy Z  futility Z  cumulative alpha  cumulative power",
        ]
        for k, t in enumerate(self.information_fractions):
            futility = f"{self.lower[k]:10.4f}" if self.lower is not None else "         -"
            lines.append(
                f"  {t:<6.3f}  {self.upper[k]:10.4f}  {futility}  "
                f"{self.cumulative_alpha[k]:16.5f}  {self.cumulative_power[k]:16.4f}"
            )
        return "\n".join(lines)


class _Density:
    """Sub-density of the score S_k = Z_k sqrt(t_k) over the region where the trial goes on."""

    def __init__(self, grid: np.ndarray, weights: np.ndarray) -> None:
        self.grid = grid
        self.weights = weights  # integration weights times density (a point mass at the start)

    @classmethod
    def start(cls) -> _Density:
        return cls(np.zeros(1), np.ones(1))

    def above(self, value: float, sd: float, shift: float) -> float:
        """Return P(S_k >= value, trial still going at the previous look)."""
        from scipy import stats

        return float(np.dot(self.weights, stats.norm.sf((value - self.grid - shift) / sd)))

    def below(self, value: float, sd: float, shift: float) -> float:
        """Return P(S_k < value, trial still going at the previous look)."""
        from scipy import stats

        return float(np.dot(self.weights, stats.norm.cdf((value - self.grid - shift) / sd)))

    def advance(self, lower: float, upper: float, sd: float, shift: float) -> _Density:
        """Return the sub-density of S_k over [lower, upper] (the continuation region)."""
        grid = _odd_grid(lower, upper, _GRID_STEP)
        scaled = (grid[:, None] - self.grid[None, :] - shift) / sd
        density = (np.exp(-0.5 * scaled**2) / (sd * math.sqrt(2 * math.pi))) @ self.weights
        return _Density(grid, _simpson_weights(grid, density))


_GRID_STEP = 0.01


def _solve_bound(
    density: _Density, *, upper: bool, sd: float, root: float, shift: float, target: float
) -> float:
    """Return the Z bound whose crossing probability (above or below it) equals target."""
    from scipy import optimize

    def crossing(z: float) -> float:
        if upper:
            return density.above(z * root, sd, shift) - target
        return density.below(z * root, sd, shift) - target

    return float(optimize.brentq(crossing, -40.0, 40.0, xtol=1e-10))


def group_sequential_design(
    information_fractions: Sequence[float],
    *,
    alpha: float = 0.025,
    power: float = 0.90,
    efficacy: SpendingFunction = SpendingFunction.HWANG_SHIH_DECANI,
    efficacy_parameter: float | None = -4.0,
    futility: SpendingFunction | None = None,
    futility_parameter: float | None = -2.0,
    binding: bool = False,
) -> GroupSequentialDesign:
    """Return a one-sided group-sequential design with optional futility by beta spending.

    Efficacy bounds spend alpha under H0 (Lan and DeMets 1983); futility bounds spend beta under
    the alternative (Pampallona, Tsiatis and Kim 2001), and the drift of the alternative, hence
    the inflation of the sample size, is found so that the last futility bound meets the last
    efficacy bound: power is then exactly 1 - beta. A *non-binding* futility bound is ignored
    when the efficacy bounds are computed (alpha is kept whether or not the DSMB stops); a
    *binding* one is taken into account, which lowers the efficacy bounds. As gsDesign's
    ``test.type`` 1 (no futility), 3 (binding) and 4 (non-binding); the defaults are gsDesign's
    (Hwang-Shih-DeCani, gamma -4 for efficacy and -2 for futility).

    Examples
    --------
    >>> design = group_sequential_design(
    ...     [1 / 3, 2 / 3, 1], futility=SpendingFunction.HWANG_SHIH_DECANI
    ... )
    >>> [round(z, 2) for z in design.upper], [round(z, 2) for z in design.lower]
    ([3.01, 2.55, 2.0], [-0.24, 0.94, 2.0])
    >>> round(design.inflation, 2)
    1.07
    """
    from scipy import optimize, stats

    require_probability("alpha", alpha)
    require_probability("power", power)
    fractions = _checked_fractions(information_fractions)
    efficacy = SpendingFunction(efficacy)
    futility = SpendingFunction(futility) if futility is not None else None
    _require_parameter(efficacy, efficacy_parameter, "efficacy_parameter")
    if futility is not None:
        _require_parameter(futility, futility_parameter, "futility_parameter")
    beta = 1 - power
    if alpha + beta >= 1:
        raise AnalysisInputError("alpha + (1 - power) must be below 1.", parameter="power")
    alpha_spent = [_spent(efficacy, alpha, t, efficacy_parameter) for t in fractions]
    alpha_spent[-1] = alpha  # every spending function spends it all at t = 1
    beta_spent = (
        [_spent(futility, beta, t, futility_parameter) for t in fractions]
        if futility is not None
        else None
    )
    if beta_spent is not None:
        beta_spent[-1] = beta
    # Non-binding (and no futility): efficacy bounds from H0 alone, whatever the drift.
    free_upper = (
        None if binding and futility is not None else _efficacy_only(fractions, alpha_spent)
    )
    fixed_drift = float(stats.norm.ppf(1 - alpha) + stats.norm.ppf(power))

    def run(drift: float) -> _Run:
        return _run(fractions, drift, alpha_spent, beta_spent, free_upper)

    def gap(drift: float) -> float:
        result = run(drift)
        if beta_spent is None:
            return result.power[-1] - power
        return result.final_futility - result.upper[-1]

    # Futility and the interim looks both cost power: the drift lies above the fixed design's.
    low, high = 0.9 * fixed_drift, 1.1 * fixed_drift
    while gap(high) < 0:
        low, high = high, high * 1.2
    drift = float(optimize.brentq(gap, low, high, xtol=1e-10))
    result = run(drift)
    if len(result.upper) < len(fractions):
        raise AnalysisInputError(
            "The futility bound meets the efficacy bound before the last look; spend less beta "
            "early or look later.",
            parameter="futility",
        )
    lower = None
    if futility is not None:
        lower = [*result.lower[:-1], result.upper[-1]]
    return GroupSequentialDesign(
        tuple(fractions),
        alpha,
        power,
        efficacy,
        efficacy_parameter if efficacy is SpendingFunction.HWANG_SHIH_DECANI else None,
        futility,
        futility_parameter if futility is SpendingFunction.HWANG_SHIH_DECANI else None,
        binding and futility is not None,
        tuple(result.upper),
        tuple(lower) if lower is not None else None,
        (drift / fixed_drift) ** 2,
        tuple(alpha_spent),
        tuple(beta_spent) if beta_spent is not None else None,
        tuple(result.power),
        tuple(result.futility_h0) if futility is not None else None,
        tuple(result.futility_h1) if futility is not None else None,
        float(sum(result.efficacy_h0)),
    )


def _require_parameter(spending: SpendingFunction, parameter: float | None, name: str) -> None:
    if spending is SpendingFunction.HWANG_SHIH_DECANI and (
        parameter is None or not math.isfinite(parameter)
    ):
        raise AnalysisInputError(
            f"{name} (gamma) is needed with Hwang-Shih-DeCani spending (gsDesign uses -4 for "
            "efficacy, -2 for futility).",
            parameter=name,
        )


def _checked_fractions(information_fractions: Sequence[float]) -> list[float]:
    fractions = [float(t) for t in information_fractions]
    if not fractions or any(not 0 < t <= 1 for t in fractions) or fractions[-1] != 1.0:
        raise AnalysisInputError(
            "information_fractions must be a non-empty list of values in (0, 1] ending at 1.",
            parameter="information_fractions",
        )
    if any(b <= a for a, b in itertools.pairwise(fractions)):
        raise AnalysisInputError(
            "information_fractions must increase strictly.", parameter="information_fractions"
        )
    return fractions


def _efficacy_only(fractions: list[float], alpha_spent: list[float]) -> list[float]:
    """Return efficacy bounds spending alpha under H0 with no futility bound."""
    density = _Density.start()
    previous_t, previous_spent = 0.0, 0.0
    bounds = []
    for t, spent in zip(fractions, alpha_spent, strict=True):
        sd, root = math.sqrt(t - previous_t), math.sqrt(t)
        c = _solve_bound(
            density, upper=True, sd=sd, root=root, shift=0.0, target=spent - previous_spent
        )
        bounds.append(c)
        density = density.advance(-8.0 * root - 8.0, c * root, sd, 0.0)
        previous_t, previous_spent = t, spent
    return bounds


@dataclass
class _Run:
    upper: list[float]
    lower: list[float]
    final_futility: float
    power: list[float]
    efficacy_h0: list[float]
    futility_h0: list[float]
    futility_h1: list[float]


def _run(
    fractions: list[float],
    drift: float,
    alpha_spent: list[float],
    beta_spent: list[float] | None,
    free_upper: list[float] | None,
) -> _Run:
    """Return bounds and crossing probabilities for one drift (Z mean at t = 1 under H1)."""
    h0, h1 = _Density.start(), _Density.start()
    previous_t, previous_alpha, previous_beta = 0.0, 0.0, 0.0
    run = _Run([], [], math.nan, [], [], [], [])
    cumulative_power = 0.0
    last = len(fractions) - 1
    for k, t in enumerate(fractions):
        sd, root = math.sqrt(t - previous_t), math.sqrt(t)
        shift = drift * (t - previous_t)
        if free_upper is not None:
            c = free_upper[k]
        else:
            c = _solve_bound(
                h0, upper=True, sd=sd, root=root, shift=0.0, target=alpha_spent[k] - previous_alpha
            )
        a = -math.inf
        if beta_spent is not None:
            target = beta_spent[k] - previous_beta
            available = h1.below(40.0 * root, sd, shift)
            if target >= available:
                a = math.inf
            else:
                a = _solve_bound(h1, upper=False, sd=sd, root=root, shift=shift, target=target)
            if k == last:
                run.final_futility = a
            a = min(a, c)
            previous_beta = beta_spent[k]
        run.upper.append(c)
        run.lower.append(a)
        cumulative_power += h1.above(c * root, sd, shift)
        run.power.append(cumulative_power)
        run.efficacy_h0.append(h0.above(c * root, sd, 0.0))
        run.futility_h0.append(h0.below(a * root, sd, 0.0) if math.isfinite(a) else 0.0)
        run.futility_h1.append(h1.below(a * root, sd, shift) if math.isfinite(a) else 0.0)
        if k < last:
            low = a * root if math.isfinite(a) else -8.0 * root - 8.0
            if low >= c * root:
                # The bounds meet before the end: this drift is too large (nothing continues).
                run.final_futility = math.inf
                return run
            h0 = h0.advance(low, c * root, sd, 0.0)
            h1 = h1.advance(min(low, c * root), c * root, sd, shift)
        previous_t, previous_alpha = t, alpha_spent[k]
    return run


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
    "GroupSequentialDesign",
    "SimonDesign",
    "SingleStageDesign",
    "SpendingFunction",
    "SurvivalSampleSize",
    "TwoProportionsSampleSize",
    "ahern_single_stage",
    "group_sequential_boundaries",
    "group_sequential_design",
    "simon_two_stage",
    "survival_sample_size",
    "two_proportions_sample_size",
]
