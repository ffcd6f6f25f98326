"""The coded terms in every export (interop's extra dataset seam): one row per coded term as
it stood when the cut-off was taken (the latest coding decision before it)."""

from __future__ import annotations

import polars as pl

from carnet.coding.selectors import coded_rows_at
from carnet.interop.datasets import Column
from carnet.interop.extra_datasets import ExtraDataset, register_extra_dataset
from carnet.interop.models import Cutoff
from carnet.studies.models import Study

COLUMNS = (
    Column("subject", pl.String(), "Subject"),
    Column("event", pl.String(), "Event"),
    Column("occurrence", pl.Int64(), "Occurrence of the event"),
    Column("form", pl.String(), "Form"),
    Column("repeat", pl.Int64(), "Instance of the form"),
    Column("item", pl.String(), "Item holding the verbatim"),
    Column("row", pl.Int64(), "Row of the repeating group (0: none)"),
    Column("verbatim", pl.String(), "Verbatim term", role="value"),
    Column("status", pl.String(), "Coding status", role="value"),
    Column("dictionary", pl.String(), "Dictionary and version", role="value"),
    Column("llt_code", pl.Int64(), "MedDRA LLT code", role="value"),
    Column("llt_name", pl.String(), "MedDRA LLT", role="value"),
    Column("pt_code", pl.Int64(), "MedDRA PT code", role="value"),
    Column("pt_name", pl.String(), "MedDRA PT", role="value"),
    Column("soc_code", pl.Int64(), "MedDRA primary SOC code", role="value"),
    Column("soc_name", pl.String(), "MedDRA primary SOC", role="value"),
    Column("drug_code", pl.String(), "WHODrug drug code", role="value"),
    Column("drug_name", pl.String(), "WHODrug drug name", role="value"),
    Column("atc_code", pl.String(), "ATC code", role="value"),
)


def coded_terms_frame(
    study: Study, cutoff: Cutoff, subjects: set[str] | None
) -> tuple[pl.DataFrame, tuple[Column, ...]]:
    rows = coded_rows_at(study, cutoff.created_at, subjects)
    schema = {column.name: column.dtype for column in COLUMNS}
    return pl.DataFrame(rows, schema=schema), COLUMNS


def register() -> None:
    register_extra_dataset(
        ExtraDataset("coded_terms", "One row per coded verbatim term", coded_terms_frame)
    )
