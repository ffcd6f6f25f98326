"""Exposure in every export (interop's extra dataset seam): one row per patient and product,
as recorded when the cut-off was taken. No arm: an unblinded export's subject dataset has it,
a blinded one's has not, and this dataset is the same in both."""

from __future__ import annotations

import polars as pl

from carnet.interop.datasets import Column
from carnet.interop.extra_datasets import ExtraDataset, register_extra_dataset
from carnet.interop.models import Cutoff
from carnet.pharmacy.exposure import SCHEMA, exposure_frame
from carnet.studies.models import Study

LABELS = {
    "subject": ("Subject", "key"),
    "product": ("Investigational product", "key"),
    "source": ("Source: administration (casebook) or dispensing (minus returns)", "value"),
    "unit": ("Unit of the doses", "value"),
    "administrations": ("Administrations (or dispensing visits) received", "value"),
    "cumulative_dose": ("Cumulative dose", "value"),
    "planned_dose": ("Protocol dose for the administrations received", "value"),
    "first_on": ("First administration (or dispensing)", "value"),
    "last_on": ("Last administration (or dispensing)", "value"),
    "duration_days": ("Duration of exposure (days)", "value"),
    "relative_dose_intensity": ("Relative dose intensity (1 = the protocol's)", "value"),
}
COLUMNS = tuple(
    Column(name, dtype(), LABELS[name][0], role=LABELS[name][1]) for name, dtype in SCHEMA.items()
)


def exposure_dataset(
    study: Study, cutoff: Cutoff, subjects: set[str] | None
) -> tuple[pl.DataFrame, tuple[Column, ...]]:
    frame = exposure_frame(study, seq=cutoff.seq, at=cutoff.created_at, subjects=subjects)
    return frame, COLUMNS


def register() -> None:
    register_extra_dataset(
        ExtraDataset("exposure", "Exposure per subject and product", exposure_dataset)
    )
