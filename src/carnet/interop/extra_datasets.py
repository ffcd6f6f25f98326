"""Datasets other apps add to every export (the seam: interop imports none of them).

A higher app registers an `ExtraDataset` from its ``AppConfig.ready``; each export writes it
after the form datasets, in the export's format, with the rows the function returns for the
study at the cut-off and the subjects the reader may see (None: every subject).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import polars as pl

from carnet.interop.datasets import Column
from carnet.interop.models import Cutoff
from carnet.studies.models import Study

ExtraRows = Callable[[Study, Cutoff, "set[str] | None"], tuple[pl.DataFrame, tuple[Column, ...]]]


@dataclass(frozen=True)
class ExtraDataset:
    name: str
    label: str
    rows: ExtraRows


EXTRA_DATASETS: list[ExtraDataset] = []


def register_extra_dataset(dataset: ExtraDataset) -> ExtraDataset:
    """Add a dataset to every export (once; called from an AppConfig.ready)."""
    if all(known.name != dataset.name for known in EXTRA_DATASETS):
        EXTRA_DATASETS.append(dataset)
    return dataset
