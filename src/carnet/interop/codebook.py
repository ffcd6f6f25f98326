"""The codebook of an export: one HTML page describing every dataset in the zip.

For each dataset its file, label and rows; for each variable its name, SAS name (8 characters,
as an XPT export writes it), label, type, role and value labels. Like the labels in the data
files it is in English, and holds nothing that depends on when it is made: the same cut-off
gives the same codebook, byte for byte.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape

import polars as pl

from carnet.interop.datasets import Column
from carnet.interop.writers import sas_names

ROLES = {
    "key": "key",
    "value": "item",
    "missing": "missing-data code of the item",
    "imputed": "imputed date of a partial date",
    "flag": "yes/no",
}


def _type(column: Column) -> str:
    dtype = column.dtype
    if dtype == pl.Date():
        return "date"
    if dtype == pl.Datetime("us"):
        return "date and time (UTC)"
    if dtype == pl.Int8():
        return "integer (0/1)" if column.role == "flag" or column.item is not None else "integer"
    if dtype == pl.Int64():
        return "integer"
    if dtype == pl.Float64():
        return "decimal"
    return "text"


def _value_labels(column: Column) -> str:
    if column.code_list is not None:
        pairs = [
            (str(code.code), code.label.en or str(code.code)) for code in column.code_list.items
        ]
    elif column.decoded is not None:
        return "labels written instead of codes: " + "; ".join(
            f"{escape(code)} → {escape(label)}" for code, label in column.decoded
        )
    elif column.dtype == pl.Int8() and (column.item is not None or column.role == "flag"):
        pairs = [("0", "No"), ("1", "Yes")]
    else:
        return ""
    return "; ".join(f"<code>{escape(code)}</code> = {escape(label)}" for code, label in pairs)


@dataclass
class Codebook:
    """The codebook being built, one dataset at a time as the export writes them."""

    title: str
    sections: list[str] = field(default_factory=list)
    index: list[str] = field(default_factory=list)

    def add(
        self, name: str, label: str, file_name: str, rows: int, columns: tuple[Column, ...]
    ) -> None:
        given = {
            c.name: c.item.sas_name for c in columns if c.item is not None and c.role == "value"
        }
        short = sas_names([column.name for column in columns], given)
        lines = [
            f'<section id="{escape(name)}"><h2>{escape(name)}</h2>',
            f"<p>{escape(label)} — <code>{escape(file_name)}</code>, {rows} rows.</p>",
            "<table><thead><tr><th>Variable</th><th>SAS name</th><th>Label</th><th>Type</th>"
            "<th>Role</th><th>Value labels</th></tr></thead><tbody>",
        ]
        for column in columns:
            lines.append(
                f"<tr><td><code>{escape(column.name)}</code></td>"
                f"<td><code>{escape(short[column.name])}</code></td>"
                f"<td>{escape(column.label)}</td><td>{_type(column)}</td>"
                f"<td>{ROLES.get(column.role, column.role)}</td>"
                f"<td>{_value_labels(column)}</td></tr>"
            )
        lines.append("</tbody></table></section>")
        self.sections.append("\n".join(lines))
        self.index.append(
            f'<li><a href="#{escape(name)}">{escape(name)}</a> — {escape(label)} ({rows} rows)</li>'
        )

    def html(self, notes: list[str]) -> str:
        return "\n".join(
            [
                "<!DOCTYPE html>",
                '<html lang="en"><head><meta charset="utf-8">',
                f"<title>{escape(self.title)}</title>",
                "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
                "td,th{border:1px solid #999;padding:2px 6px;text-align:left;"
                "vertical-align:top}</style>",
                "</head><body>",
                f"<h1>Codebook — {escape(self.title)}</h1>",
                *(f"<p>{escape(note)}</p>" for note in notes),
                "<ul>",
                *self.index,
                "</ul>",
                *self.sections,
                "</body></html>",
                "",
            ]
        )
