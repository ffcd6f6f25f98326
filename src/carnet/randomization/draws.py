"""Turning one uniform random number into a choice, so that a recorded number replays the choice.

Only ``random.Random.random()`` is promised by Python to give the same sequence for the same seed
in every version; ``shuffle``, ``choice`` and ``randrange`` have changed between versions. Every
choice here is therefore made from ``random()`` values by our own arithmetic, so a list generated
today is regenerated identically by ``carnet randomization verify`` on a later Python.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence


def weighted_pick(draw: float, options: Sequence[str], weights: Sequence[float]) -> str:
    """Return the option whose share of the cumulative weights contains ``draw`` (0 <= draw < 1)."""
    if not 0 <= draw < 1:
        raise ValueError(f"a draw is in [0, 1), not {draw!r}")
    total = float(sum(weights))
    cumulative = 0.0
    for option, weight in zip(options, weights, strict=True):
        cumulative += weight / total
        if draw < cumulative:
            return option
    # Rounding can leave the last cumulative share a hair under 1.
    return options[-1]


def shuffled(rng: random.Random, values: Sequence[str]) -> list[str]:
    """Return ``values`` in a random order (Fisher-Yates driven by ``rng.random()`` only)."""
    result = list(values)
    for i in range(len(result) - 1, 0, -1):
        j = min(int(rng.random() * (i + 1)), i)
        result[i], result[j] = result[j], result[i]
    return result


def stratum_generator(seed: int, stratum: str) -> random.Random:
    """Return the generator of one stratum's list: its own stream, derived from the list's seed.

    Each stratum has its own stream so that extending one stratum's list (or adding a site)
    leaves the others unchanged, and a stratum's list is a prefix of any longer one.
    """
    digest = hashlib.sha256(f"{seed}\x00{stratum}".encode()).digest()
    # A seeded generator on purpose: the list must be regenerated from its seed to be proved.
    # Concealment rests on the seed, drawn with `secrets` and never shown to blinded roles.
    return random.Random(int.from_bytes(digest[:8], "big"))  # noqa: S311
