"""Memory stays flat: exporting a study four times larger needs not much more memory.

The study is bench/export.py's (10 forms of 20 items at a baseline and four cycles, a repeating
group of lesions), written in bulk into the test database at two sizes. The export reads the
trail in chunks (made small here, so that both sizes take many) and builds one form at a time;
its extra peak memory, Python's (tracemalloc) and the process's (the resident high-water mark,
reset before each export), is compared between the sizes."""

from __future__ import annotations

import importlib.util
import io
import tracemalloc
from pathlib import Path
from types import ModuleType

import pytest

from carnet.accounts.models import Centre
from carnet.audit.services import SystemActor
from carnet.interop import datasets
from carnet.interop.exports import export_write
from carnet.interop.models import Cutoff
from carnet.studies.models import Study

pytestmark = [pytest.mark.django_db, pytest.mark.slow]
BENCH = Path(__file__).resolve().parents[2] / "bench" / "export.py"
STATUS = Path("/proc/self/status")


def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_export", BENCH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    # The study this test was calibrated on: four cycles (the benchmark's default is nine, for
    # its 20 million values at 10,000 subjects).
    module.CYCLES = 4
    return module


def _kib(field: str) -> int:
    line = next(x for x in STATUS.read_text().splitlines() if x.startswith(field + ":"))
    return int(line.split()[1])


def measure(file_format: str) -> tuple[float, float]:
    """Return the export's extra peak memory in MB: Python's, and the process's resident."""
    study = Study.objects.get(identifier="BENCHX")
    cutoff = Cutoff.objects.get(study=study, name="BENCH")
    Path("/proc/self/clear_refs").write_text("5")  # resets the resident high-water mark
    resident = _kib("VmRSS")
    tracemalloc.start()
    export_write(
        actor=SystemActor(label="test"),
        study=study,
        cutoff=cutoff,
        file_format=file_format,
        target=io.BytesIO(),
    )
    python_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return python_peak / 1e6, (_kib("VmHWM") - resident) / 1024


@pytest.mark.skipif(not STATUS.exists(), reason="needs Linux's /proc to read the resident peak")
def test_exporting_a_study_four_times_larger_needs_not_much_more_memory(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(datasets, "CHUNK", 2_000)
    setup = bench()._setup
    setup(25)
    measure("parquet")  # a first export warms Polars' pools and Django's caches
    small = measure("parquet")
    Study.objects.filter(identifier="BENCHX").update(identifier="BENCHS")
    Centre.objects.filter(code="BEN").update(code="BENS")
    setup(100)
    large = measure("parquet")
    print(f"small: python {small[0]:.1f} MB, resident {small[1]:.1f} MB")
    print(f"large: python {large[0]:.1f} MB, resident {large[1]:.1f} MB")
    assert large[0] < 1.5 * small[0] + 2
    assert large[1] < 1.5 * small[1] + 20
