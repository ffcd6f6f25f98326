"""The cyclic garbage collector during the long one-off commands (`carnet migrate` on a new
database, `carnet demo`): spared the passes that find nothing to free.

When such a command starts, the process already holds Django, every app, Polars and SciPy: a
few hundred thousand objects that live as long as it does, which each full pass of the collector
walks again. Measured on the demo's load (bench/make_run.py, bench/RESULTS.md "Demo load"):
these passes took about a tenth of `carnet demo`'s CPU time and three tenths of `carnet migrate`'s
on a new database.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_calmed() -> Iterator[None]:
    """Leave what is loaded so far out of the collector's passes and make its young passes
    rarer while the block runs (garbage it makes is still collected); then as before."""
    gc.collect()
    gc.freeze()
    thresholds = gc.get_threshold()
    # A hundredfold: the demo's load makes almost no cyclic garbage (with no collector at all,
    # its peak memory grew by under 1 %), and tenfold still left 2 s of its minute to the passes.
    gc.set_threshold(thresholds[0] * 100, *thresholds[1:])
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


@contextmanager
def collector_paused() -> Iterator[None]:
    """`collector_pause` for a block of a process that goes on: the migration of a new database
    within `carnet demo`. Its cycles are freed in one pass at the end, and what lives on is left
    out of later passes, which would otherwise walk it again each time."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.collect()
        gc.freeze()
        if enabled:
            gc.enable()


def collector_pause() -> None:
    """Stop the collector for the rest of a short process whose cycles are few and bounded.

    For migrating a database that holds no data yet: Django renders its model states again and
    again (cycles of model classes, a few hundred megabytes at most over the hundred-odd
    migrations); the process ends soon after and frees them all. Never for a database with data,
    whose data migrations may walk every row, nor inside a process that goes on (a test).
    """
    gc.collect()
    gc.freeze()
    gc.disable()
