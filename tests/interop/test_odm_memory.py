"""Memory stays flat in an ODM export: a study four times larger needs not much more memory.

bench/export.py's study at 25 and 100 subjects, the trail read in small chunks and the subjects
written in parts of 10 (so that both sizes take many); the file goes to a sink that keeps
nothing. Python's extra peak (tracemalloc) is compared between the sizes."""

from __future__ import annotations

import tracemalloc

import pytest

from carnet.accounts.models import Centre
from carnet.audit.services import SystemActor
from carnet.interop import datasets
from carnet.interop.models import Cutoff
from carnet.interop.odm import export as odm_export
from carnet.studies.models import Study
from tests.interop.test_memory import bench

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


class Sink:
    """A binary stream that counts what it is given and keeps nothing."""

    def __init__(self) -> None:
        self.size = 0

    def write(self, data: bytes) -> int:
        self.size += len(data)
        return len(data)


def measure(mode: str) -> tuple[float, int]:
    study = Study.objects.get(identifier="BENCHX")
    cutoff = Cutoff.objects.get(study=study, name="BENCH")
    sink = Sink()
    tracemalloc.start()
    odm_export.odm_write(
        actor=SystemActor(label="test"), study=study, cutoff=cutoff, target=sink, mode=mode
    )
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 1e6, sink.size


def test_an_odm_export_of_a_study_four_times_larger_needs_not_much_more_memory(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(datasets, "CHUNK", 2_000)  # the frames the events are read in
    monkeypatch.setattr(odm_export, "CHUNK", 2_000)
    monkeypatch.setattr(odm_export, "SUBJECTS_PER_PART", 10)
    setup = bench()._setup
    setup(25)
    measure("transactional")  # warms Polars' pools and Django's caches
    small = measure("transactional")
    Study.objects.filter(identifier="BENCHX").update(identifier="BENCHS")
    Centre.objects.filter(code="BEN").update(code="BENS")
    setup(100)
    large = measure("transactional")
    print(f"small: python {small[0]:.1f} MB, file {small[1] / 1e6:.1f} MB")
    print(f"large: python {large[0]:.1f} MB, file {large[1] / 1e6:.1f} MB")
    assert large[1] > 3.5 * small[1]  # the file did grow four times
    assert large[0] < 1.5 * small[0] + 2
