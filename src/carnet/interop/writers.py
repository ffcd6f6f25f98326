"""How datasets are written: CSV with its SAS and R programs, Parquet, and the zip around them.

Everything here is deterministic: the same frames give the same bytes (sorted rows, fixed zip
entry times, no time of writing anywhere), which is what lets an export be made again from its
cut-off and compared byte for byte.
"""

from __future__ import annotations

import io
import json
import re
import tempfile
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import IO, Any

import polars as pl
import pyarrow.parquet as pq

from carnet.core.hashing import sha256_hex
from carnet.interop.datasets import Column
from carnet.studies.definition.model import CodeList

FORMATS = ("csv", "parquet", "xpt", "dta", "sav", "warehouse")
DATETIME_FORMAT = "%Y-%m-%dT%H:%M:%S"


@dataclass
class Written:
    """One file of an export: its name, bytes' SHA-256, size and rows."""

    name: str
    sha256: str
    size: int
    rows: int | None = None


# Entries whose content is compressed already: stored as they are.
ALREADY_COMPRESSED = (".parquet",)


@dataclass
class ZipExport:
    """A zip being written, one entry at a time; entries carry the cut-off's date, not today's."""

    target: IO[bytes]
    day: date
    files: list[Written] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.zip = zipfile.ZipFile(self.target, "w", compression=zipfile.ZIP_DEFLATED)

    def add(self, name: str, content: bytes, rows: int | None = None) -> None:
        entry = zipfile.ZipInfo(
            name, date_time=(self.day.year, self.day.month, self.day.day, 0, 0, 0)
        )
        entry.external_attr = 0o644 << 16
        if name.endswith(ALREADY_COMPRESSED):
            # Deflating zstd-compressed Parquet again costs time and saves nothing.
            self.zip.writestr(entry, content, compress_type=zipfile.ZIP_STORED)
        else:
            # The fastest deflate: at 10 million values the default level was a tenth of the
            # export's time, for files a few percent smaller.
            entry.compress_type = zipfile.ZIP_DEFLATED
            self.zip.writestr(entry, content, compresslevel=1)
        self.files.append(Written(name, sha256_hex(content), len(content), rows))

    def close(self) -> None:
        self.zip.close()


def csv_bytes(frame: pl.DataFrame) -> bytes:
    """Return the frame as UTF-8 CSV: a header, ISO dates, empty for no value."""
    return frame.write_csv(
        None, date_format="%Y-%m-%d", datetime_format=DATETIME_FORMAT, null_value=""
    ).encode("utf-8")


def parquet_bytes(frame: pl.DataFrame, columns: Iterable[Column]) -> bytes:
    """Return the frame as Parquet (pyarrow), the columns' labels in the schema's metadata."""
    table = frame.to_arrow()
    labels = {column.name: column.label for column in columns}
    table = table.replace_schema_metadata(
        {"carnet.labels": json.dumps(labels, ensure_ascii=False, sort_keys=True)}
    )
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd")
    return buffer.getvalue()


# --- SAS and R programs ----------------------------------------------------------------------


def _sas_format_name(code_list: CodeList, taken: dict[str, str]) -> str:
    """Return the SAS format name of a code list (letters, digits, _; not ending in a digit)."""
    if code_list.name in taken:
        return taken[code_list.name]
    base = re.sub(r"[^A-Za-z0-9_]", "_", code_list.name)[:26] or "codes"
    if base[0].isdigit():
        base = f"f{base}"[:26]
    name = f"{base}_f"
    while name in taken.values():
        name = f"{base[:24]}{len(taken)}_f"
    taken[code_list.name] = name
    return name


def _sas_text(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def _r_text(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass
class Programs:
    """The SAS and R programs reading the CSV files, built one dataset at a time."""

    title: str
    formats: dict[str, str] = field(default_factory=dict)
    format_lists: dict[str, CodeList] = field(default_factory=dict)
    sas_steps: list[str] = field(default_factory=list)
    r_steps: list[str] = field(default_factory=list)

    def add(self, name: str, frame: pl.DataFrame, columns: tuple[Column, ...]) -> None:
        informats, formats, inputs, labels = [], [], [], []
        r_classes, r_after = [], []
        for column in columns:
            sas, r_class, r_line = self._column(name, frame, column)
            informats.append(f"{column.name} {sas[0]}")
            if sas[1]:
                formats.append(f"{column.name} {sas[1]}")
            inputs.append(f"{column.name}{' $' if sas[0].startswith('$') else ''}")
            labels.append(f"{column.name}={_sas_text(column.label[:256])}")
            r_classes.append(f"{column.name} = {_r_text(r_class)}")
            r_after += r_line
            r_after.append(f'attr({name}${column.name}, "label") <- {_r_text(column.label)}')
        self.sas_steps.append(
            "\n".join(
                [
                    f"data {name};",
                    f'  infile "&carnet/{name}.csv" dsd firstobs=2 encoding="utf-8" '
                    "truncover lrecl=1000000;",
                    "  informat " + "\n    ".join(informats) + ";",
                    "  format " + "\n    ".join(formats) + ";" if formats else "",
                    "  input " + "\n    ".join(inputs) + ";",
                    "  label " + "\n    ".join(labels) + ";",
                    "run;",
                ]
            )
        )
        self.r_steps.append(
            "\n".join(
                [
                    f"{name} <- read.csv(file.path(carnet, {_r_text(name + '.csv')}), "
                    'na.strings = "", encoding = "UTF-8", fileEncoding = "UTF-8",',
                    "  colClasses = c(" + ", ".join(r_classes) + "))",
                    *r_after,
                ]
            )
        )

    def _column(
        self, name: str, frame: pl.DataFrame, column: Column
    ) -> tuple[tuple[str, str], str, list[str]]:
        """Return (SAS informat, SAS format), R class and R lines after reading, for a column."""
        dtype = column.dtype
        if dtype == pl.Date():
            return ("yymmdd10.", "yymmdd10."), "Date", []
        if dtype == pl.Datetime("us"):
            convert = (
                f"{name}${column.name} <- as.POSIXct({name}${column.name}, "
                'format = "%Y-%m-%dT%H:%M:%S", tz = "UTC")'
            )
            return ("e8601dt19.", "e8601dt19."), "character", [convert]
        code_list = column.code_list
        r_lines = []
        sas_format = ""
        if code_list is not None:
            sas_format = self._format_of(code_list, numeric=dtype != pl.String())
            codes = ", ".join(
                f"{_r_text(code.label.en or str(code.code))} = "
                + (str(code.code) if dtype != pl.String() else _r_text(str(code.code)))
                for code in code_list.items
            )
            r_lines.append(f'attr({name}${column.name}, "labels") <- c({codes})')
        if (column.item is not None or column.role == "flag") and dtype == pl.Int8():
            sas_format = "yesno."
            r_lines.append(f'attr({name}${column.name}, "labels") <- c(No = 0L, Yes = 1L)')
        if dtype in (pl.Int64(), pl.Int8()):
            return ("best32.", sas_format), "integer", r_lines
        if dtype == pl.Float64():
            return ("best32.", sas_format), "numeric", r_lines
        longest = frame.get_column(column.name).str.len_bytes().max() if frame.height else None
        width = max(int(longest or 1), 1)  # type: ignore[arg-type]
        return (f"$char{width}.", sas_format), "character", r_lines

    def _format_of(self, code_list: CodeList, *, numeric: bool) -> str:
        name = _sas_format_name(code_list, self.formats)
        self.format_lists[name] = code_list
        return f"{name}." if numeric else f"${name}."

    def sas(self) -> str:
        values = ['  value yesno 0 = "No" 1 = "Yes";']
        for name, code_list in self.format_lists.items():
            numeric = code_list.type == "integer"
            pairs = " ".join(
                f"{code.code if numeric else _sas_text(str(code.code))} = "
                f"{_sas_text(code.label.en or str(code.code))}"
                for code in code_list.items
            )
            values.append(f"  value {'' if numeric else '$'}{name} {pairs};")
        return "\n".join(
            [
                f"/* {self.title} */",
                "/* Set carnet to the folder where the export was unzipped. */",
                "%let carnet = .;",
                "proc format;",
                *values,
                "run;",
                "",
                *(step + "\n" for step in self.sas_steps),
            ]
        )

    def r(self) -> str:
        return "\n".join(
            [
                f"# {self.title}",
                "# Set carnet to the folder where the export was unzipped.",
                'carnet <- "."',
                "",
                *(step + "\n" for step in self.r_steps),
            ]
        )


# --- SAS XPT version 5 -----------------------------------------------------------------------

# The time SAS writes in an XPT header (ddMMMyy:hh:mm:ss), replaced by the cut-off's date so
# that the file does not depend on when it was made.
XPT_TIME = re.compile(rb"\d\d[A-Z]{3}\d\d:\d\d:\d\d:\d\d")
XPT_OBSERVATIONS = b"HEADER RECORD*******OBS     HEADER RECORD"


def sas_names(names: Iterable[str], given: dict[str, str] | None = None) -> dict[str, str]:
    """Return an 8-character SAS name for each column: the item's `sas_name` where the study
    gives one, else the name's first letters and digits in capitals, numbered when taken."""
    given = given or {}
    mapped: dict[str, str] = {}
    for name in names:
        base = (given.get(name) or re.sub(r"[^A-Za-z0-9_]", "", name)).upper()[:8] or "VAR"
        if base[0].isdigit():
            base = f"_{base}"[:8]
        candidate, number = base, 1
        while candidate in mapped.values():
            number += 1
            candidate = f"{base[: 8 - len(str(number))]}{number}"
        mapped[name] = candidate
    return mapped


def xpt_bytes(
    frame: pl.DataFrame, columns: Iterable[Column], member: str, names: dict[str, str], day: date
) -> bytes:
    """Return the dataset as SAS XPT version 5 (names of 8 characters, labels of 40)."""
    import pyreadstat

    labels: dict[str, str | None] = {names[c.name]: c.label[:40] for c in columns}
    renamed = frame.rename(names).with_columns(
        pl.col(pl.Int8, pl.Int64).cast(pl.Float64), pl.col(pl.Datetime).dt.replace_time_zone(None)
    )
    with tempfile.TemporaryDirectory(prefix="carnet-xpt-") as folder:
        path = Path(folder) / f"{member}.xpt"
        pyreadstat.write_xport(
            renamed, path, file_format_version=5, table_name=member, column_labels=labels
        )
        content = path.read_bytes()
    month = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
    stamp = f"{day.day:02d}{month[day.month - 1]}{day.year % 100:02d}:00:00:00".encode("ascii")
    header_end = content.find(XPT_OBSERVATIONS)
    header = XPT_TIME.sub(stamp, content[:header_end])
    return header + content[header_end:]


# --- Stata and SPSS --------------------------------------------------------------------------

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
STATA_TIME = re.compile(rb"<timestamp>\x11\d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d")
# An SPSS file's header: the creation date (9 bytes) and time (8 bytes) at fixed places.
SPSS_DATE_AT = 92


def short_names(names: Iterable[str], width: int) -> dict[str, str]:
    """Return each name cut to ``width`` characters, numbered when two would be the same."""
    mapped: dict[str, str] = {}
    for name in names:
        candidate, number = name[:width], 1
        while candidate in mapped.values():
            number += 1
            candidate = f"{name[: width - len(str(number))]}{number}"
        mapped[name] = candidate
    return mapped


def _value_labels(columns: Iterable[Column], names: dict[str, str]) -> dict[str, Any]:
    """Return the numeric columns' value labels: code lists, and Yes/No."""
    labels: dict[str, Any] = {}
    for column in columns:
        if column.code_list is not None and column.dtype != pl.String():
            labels[names[column.name]] = {
                float(code.code): code.label.en or str(code.code) for code in column.code_list.items
            }
        elif (column.item is not None or column.role == "flag") and column.dtype == pl.Int8():
            labels[names[column.name]] = {0.0: "No", 1.0: "Yes"}
    return labels


def readstat_bytes(
    frame: pl.DataFrame, columns: Iterable[Column], file_format: str, day: date
) -> tuple[bytes, dict[str, str]]:
    """Return the dataset as Stata (.dta, names of 32) or SPSS (.sav, names of 64) with labels
    and value labels, the time of writing replaced by the cut-off date; and the names used."""
    import pyreadstat

    columns = list(columns)
    names = short_names([c.name for c in columns], 32 if file_format == "dta" else 64)
    labels: dict[str, str | None] = {names[c.name]: c.label[:80] for c in columns}
    renamed = frame.rename(names).with_columns(
        pl.col(pl.Int8, pl.Int64).cast(pl.Float64), pl.col(pl.Datetime).dt.replace_time_zone(None)
    )
    values = _value_labels(columns, names)
    with tempfile.TemporaryDirectory(prefix="carnet-readstat-") as folder:
        path = Path(folder) / f"data.{file_format}"
        if file_format == "dta":
            pyreadstat.write_dta(renamed, path, column_labels=labels, variable_value_labels=values)
        else:
            pyreadstat.write_sav(renamed, path, column_labels=labels, variable_value_labels=values)
        content = path.read_bytes()
    if file_format == "dta":
        stamp = f"{day.day:02d} {MONTHS[day.month - 1]} {day.year} 00:00".encode("ascii")
        content = STATA_TIME.sub(b"<timestamp>\x11" + stamp, content, count=1)
    else:
        header = f"{day.day:02d} {MONTHS[day.month - 1]} {day.year % 100:02d}00:00:00"
        content = content[:SPSS_DATE_AT] + header.encode("ascii") + content[SPSS_DATE_AT + 17 :]
    return content, names
