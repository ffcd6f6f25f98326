"""What captured data a change of the study definition touches, for the migration report.

Apps that hold study data (subjects, capture, …) register a counter; the report asks each one,
for every changed element, how many rows it holds for that element in the study. Before any app
registers, or before any data exists, every change touches nothing, and the report says so.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from carnet.studies.definition.diff import Change


@dataclass(frozen=True)
class DataTouched:
    """How many rows of one kind (item values, form instances…) a change concerns."""

    what: str
    count: int

    def __str__(self) -> str:
        return f"{self.count} {self.what}"


# A counter receives the study's identifier and a change and returns what it touches.
DataCounter = Callable[[str, Change], list[DataTouched]]
_COUNTERS: list[DataCounter] = []


def register_data_counter(counter: DataCounter) -> DataCounter:
    """Register a counter (usable as a decorator); apps call it from their AppConfig.ready()."""
    if counter not in _COUNTERS:
        _COUNTERS.append(counter)
    return counter


def data_touched(study_identifier: str, change: Change) -> list[DataTouched]:
    """Return the data a change touches in a study, as every registered counter sees it."""
    touched: list[DataTouched] = []
    for counter in _COUNTERS:
        touched.extend(entry for entry in counter(study_identifier, change) if entry.count)
    return touched
