"""Permuted blocks: balance after every block, bounded imbalance inside one, same seed same list."""

from __future__ import annotations

from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from carnet.randomization.blocks import stratum_list

ARMS = ("experimental", "placebo")


def test_the_same_seed_gives_the_same_list_and_another_seed_another() -> None:
    def arms(seed: int) -> list[str]:
        entries = stratum_list(
            seed=seed, stratum="site=001", arms=ARMS, ratio=(1, 1), block_sizes=(4, 6), length=60
        )
        return [entry.arm for entry in entries]

    assert arms(20261203) == arms(20261203)
    assert arms(20261203) != arms(20261204)


def test_each_stratum_has_its_own_list_from_one_seed() -> None:
    def arms(stratum: str) -> list[str]:
        entries = stratum_list(
            seed=7, stratum=stratum, arms=ARMS, ratio=(1, 1), block_sizes=(4, 6), length=40
        )
        return [entry.arm for entry in entries]

    assert arms("site=001|smoker=1") != arms("site=001|smoker=0")


def test_a_longer_list_starts_with_the_shorter_one() -> None:
    # Extending a production list appends; it never changes an entry already there.
    def entries(length: int) -> list[object]:
        return list(
            stratum_list(
                seed=11,
                stratum="site=002",
                arms=ARMS,
                ratio=(2, 1),
                block_sizes=(3, 6),
                length=length,
            )
        )

    short, long = entries(30), entries(90)
    assert long[: len(short)] == short


def test_the_block_sizes_vary_between_the_sizes_given() -> None:
    entries = stratum_list(
        seed=3, stratum="all", arms=ARMS, ratio=(1, 1), block_sizes=(4, 6), length=200
    )
    assert {entry.block_size for entry in entries} == {4, 6}


@given(
    seed=st.integers(min_value=0, max_value=2**64),
    ratio=st.sampled_from([(1, 1), (2, 1), (1, 2), (1, 1, 1), (2, 1, 1)]),
    multiples=st.lists(st.integers(min_value=1, max_value=3), min_size=1, max_size=3),
    length=st.integers(min_value=1, max_value=80),
)
def test_every_complete_block_is_balanced_and_no_prefix_is_off_by_more_than_half_a_block(
    seed: int, ratio: tuple[int, ...], multiples: list[int], length: int
) -> None:
    arms = ("a", "b", "c")[: len(ratio)]
    sizes = [m * sum(ratio) for m in multiples]
    entries = stratum_list(
        seed=seed, stratum="s", arms=arms, ratio=ratio, block_sizes=sizes, length=length
    )
    assert len(entries) >= length
    assert [entry.sequence for entry in entries] == list(range(1, len(entries) + 1))
    counts: Counter[str] = Counter()
    for position, entry in enumerate(entries, start=1):
        counts[entry.arm] += 1
        # Imbalance: how far an arm's count is from its share of the ratio so far.
        worst = max(
            abs(counts[arm] - position * part / sum(ratio))
            for arm, part in zip(arms, ratio, strict=True)
        )
        assert worst <= max(sizes) / 2
        block_ends = position == len(entries) or entries[position].block != entry.block
        if block_ends:
            total = position // sum(ratio)
            assert position % sum(ratio) == 0
            assert dict(counts) == {
                arm: part * total for arm, part in zip(arms, ratio, strict=True)
            }
