"""Pocock-Simon minimisation (pure functions, no Django).

For each arm a new subject could join, the imbalance of each of the subject's factor levels is
measured as if the subject were there (counts divided by the arm's ratio part, so a 2:1 design
aims at 2:1, not 1:1); the weighted sum over factors is the arm's score. The arm with the lowest
score is preferred: it is allocated with probability ``p``, otherwise one of the others is (in
proportion to the ratio); arms tied for the lowest score are drawn among in proportion to the
ratio. One uniform number in [0, 1) decides, and it is recorded, so the allocation can be replayed.

Reference: Pocock SJ, Simon R. Biometrics 1975;31:103-115.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from carnet.randomization.draws import weighted_pick


@dataclass
class MarginalCounts:
    """How many subjects each arm has at each level of each factor (the marginal totals)."""

    counts: dict[tuple[str, str], dict[str, int]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(int))
    )

    def add(self, levels: Mapping[str, str], arm: str, subjects: int = 1) -> None:
        for factor, level in levels.items():
            self.counts[(factor, level)][arm] += subjects

    def of(self, factor: str, level: str, arm: str) -> int:
        return self.counts.get((factor, level), {}).get(arm, 0)


@dataclass(frozen=True)
class MinimisationResult:
    arm: str
    draw: float
    scores: dict[str, float]  # each arm's weighted imbalance had the subject joined it
    preferred: tuple[str, ...]  # the arms with the lowest score


def imbalance(values: Sequence[float], measure: str) -> float:
    """Return the spread of ratio-adjusted counts: their range or their (population) variance."""
    if measure == "range":
        return max(values) - min(values)
    if measure == "variance":
        mean = sum(values) / len(values)
        return sum((v - mean) ** 2 for v in values) / len(values)
    raise ValueError(f"unknown imbalance measure {measure!r}")


def arm_scores(
    *,
    arms: Sequence[str],
    ratio: Sequence[int],
    weights: Mapping[str, float],
    counts: MarginalCounts,
    levels: Mapping[str, str],
    measure: str,
) -> dict[str, float]:
    """Return, for each arm, the weighted imbalance over the subject's levels if allocated there."""
    scores: dict[str, float] = {}
    for candidate in arms:
        total = 0.0
        for factor, level in levels.items():
            adjusted = [
                (counts.of(factor, level, arm) + (arm == candidate)) / part
                for arm, part in zip(arms, ratio, strict=True)
            ]
            total += weights[factor] * imbalance(adjusted, measure)
        scores[candidate] = total
    return scores


def minimisation_allocate(
    *,
    arms: Sequence[str],
    ratio: Sequence[int],
    weights: Mapping[str, float],
    counts: MarginalCounts,
    levels: Mapping[str, str],
    measure: str,
    p: float,
    draw: float,
) -> MinimisationResult:
    """Return the arm for a subject with ``levels``, decided by the uniform number ``draw``.

    With a single preferred arm: ``draw < p`` allocates it; otherwise ``(draw - p) / (1 - p)``
    picks among the other arms by ratio. With a tie: ``draw`` picks among the tied arms by ratio.
    """
    scores = arm_scores(
        arms=arms, ratio=ratio, weights=weights, counts=counts, levels=levels, measure=measure
    )
    # Scores are sums of a few fractions: compare with a tolerance so 1/3 + 2/3 ties with 1.
    lowest = min(scores.values())
    preferred = tuple(arm for arm in arms if scores[arm] - lowest < 1e-9)
    part = dict(zip(arms, ratio, strict=True))
    if len(preferred) > 1:
        arm = weighted_pick(draw, preferred, [part[a] for a in preferred])
    elif draw < p:
        arm = preferred[0]
    else:
        others = [a for a in arms if a != preferred[0]]
        arm = weighted_pick((draw - p) / (1 - p), others, [part[a] for a in others])
    return MinimisationResult(arm, draw, scores, preferred)


def simple_allocate(*, arms: Sequence[str], ratio: Sequence[int], draw: float) -> str:
    """Return the arm of simple randomisation: ``draw`` falls in an arm's share of the ratio."""
    return weighted_pick(draw, arms, ratio)
