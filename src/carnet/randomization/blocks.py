"""Stratified permuted blocks with randomly varying block sizes (pure functions, no Django).

A stratum's list is a sequence of blocks; each block's size is drawn from ``block_sizes`` and its
arms are the ratio repeated ``size / sum(ratio)`` times, shuffled. After every complete block the
arms are exactly in the ratio, and within a block the imbalance never exceeds what half of the
largest block can hold. Varying the size keeps a site from guessing the last arm of a block.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from carnet.randomization.draws import shuffled, stratum_generator


@dataclass(frozen=True)
class ListEntry:
    """One line of a randomisation list: the ``sequence``-th allocation of its stratum."""

    stratum: str
    sequence: int  # 1, 2, … within the stratum
    block: int  # 1, 2, … within the stratum
    block_size: int
    arm: str


def block_arms(
    rng: random.Random, arms: Sequence[str], ratio: Sequence[int], size: int
) -> list[str]:
    """Return one block of ``size`` arms in the ratio, in random order."""
    parts = sum(ratio)
    if size % parts:
        raise ValueError(f"a block of {size} cannot keep the ratio {ratio}")
    repeats = size // parts
    return shuffled(
        rng, [arm for arm, part in zip(arms, ratio, strict=True) for _ in range(part * repeats)]
    )


def stratum_list(
    *,
    seed: int,
    stratum: str,
    arms: Sequence[str],
    ratio: Sequence[int],
    block_sizes: Sequence[int],
    length: int,
) -> list[ListEntry]:
    """Return the first complete blocks of a stratum's list, at least ``length`` entries.

    The same seed and stratum always give the same list, and a longer list starts with the
    shorter one: extending a list is generating it again with a larger ``length``.
    """
    rng = stratum_generator(seed, stratum)
    sizes = sorted(set(block_sizes))
    entries: list[ListEntry] = []
    block = 0
    while len(entries) < length:
        block += 1
        size = sizes[min(int(rng.random() * len(sizes)), len(sizes) - 1)]
        for arm in block_arms(rng, arms, ratio, size):
            entries.append(ListEntry(stratum, len(entries) + 1, block, size, arm))
    return entries
