"""Balance of stratified permuted blocks vs minimisation: simulated trials, no database.

Three factors, as in a typical multicentre trial: 4 sites, ECOG 0/1, 3 disease stages, levels
drawn uniformly. Blocks: one list per stratum (4 x 2 x 3 = 24 strata), block sizes 4 and 6, each
subject takes the next entry of their stratum (carnet.randomization.blocks, as `carnet
randomization generate` makes them). Minimisation: Pocock-Simon, range, equal weights, p = 0.8
(carnet.randomization.minimisation, as `subject_randomise` calls it). For each trial size and
method, ``--trials`` trials; per trial the imbalance |n(A) - n(B)| overall and at every factor
level; reported: the mean over trials of the overall imbalance and of the largest level
imbalance, and the largest of all.

    .venv/bin/python bench/randomisation_balance.py [--quick] [--trials 500]

The last line holds the figures.
"""

from __future__ import annotations

import argparse
import random
import statistics
from itertools import product

from carnet.randomization.blocks import stratum_list
from carnet.randomization.minimisation import MarginalCounts, minimisation_allocate

ARMS = ("A", "B")
FACTORS = {"site": 4, "ecog": 2, "stage": 3}


def _levels(rng: random.Random) -> dict[str, str]:
    return {name: str(int(rng.random() * size)) for name, size in FACTORS.items()}


def blocks_trial(seed: int, subjects: int) -> MarginalCounts:
    rng = random.Random(seed)
    strata = {
        "|".join(combination): iter(
            stratum_list(
                seed=seed,
                stratum="|".join(combination),
                arms=ARMS,
                ratio=(1, 1),
                block_sizes=(4, 6),
                length=subjects,
            )
        )
        for combination in product(*(map(str, range(size)) for size in FACTORS.values()))
    }
    counts = MarginalCounts()
    for _ in range(subjects):
        levels = _levels(rng)
        entry = next(strata["|".join(levels.values())])
        counts.add({**levels, "all": "all"}, entry.arm)
    return counts


def minimisation_trial(seed: int, subjects: int) -> MarginalCounts:
    rng = random.Random(seed)
    counts, overall = MarginalCounts(), MarginalCounts()
    for _ in range(subjects):
        levels = _levels(rng)
        result = minimisation_allocate(
            arms=ARMS,
            ratio=(1, 1),
            weights=dict.fromkeys(FACTORS, 1.0),
            counts=counts,
            levels=levels,
            measure="range",
            p=0.8,
            draw=rng.random(),
        )
        counts.add(levels, result.arm)
        overall.add({"all": "all"}, result.arm)
    counts.counts.update(overall.counts)
    return counts


def imbalances(counts: MarginalCounts) -> tuple[int, int]:
    """Return the overall imbalance and the largest imbalance at a factor level."""
    gap = {key: abs(arms.get("A", 0) - arms.get("B", 0)) for key, arms in counts.counts.items()}
    overall = gap.pop(("all", "all"))
    return overall, max(gap.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="Fewer trials (under a minute).")
    parser.add_argument("--trials", type=int, default=None)
    arguments = parser.parse_args()
    trials = arguments.trials or (100 if arguments.quick else 500)
    figures = []
    print(
        "| method | subjects | trials | overall mean | overall max | largest level mean "
        "| largest level max |"
    )
    print("|---|---|---|---|---|---|---|")
    for subjects in (200, 1000):
        for name, simulate in (("blocks", blocks_trial), ("minimisation", minimisation_trial)):
            results = [imbalances(simulate(seed, subjects)) for seed in range(trials)]
            overall = [o for o, _ in results]
            level = [m for _, m in results]
            print(
                f"| {name} | {subjects} | {trials} | {statistics.mean(overall):.1f} | "
                f"{max(overall)} | {statistics.mean(level):.1f} | {max(level)} |",
                flush=True,
            )
            figures.append(
                f"{name}{subjects} overall_mean={statistics.mean(overall):.1f} "
                f"overall_max={max(overall)} level_mean={statistics.mean(level):.1f} "
                f"level_max={max(level)}"
            )
    print(" | ".join(figures))


if __name__ == "__main__":
    main()
