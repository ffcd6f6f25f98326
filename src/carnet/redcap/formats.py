"""REDCap's three answer formats (json, csv, xml) and its error bodies.

REDCap answers an error in the ``returnFormat`` asked for, else in ``format``, else in XML:
``{"error": "…"}``, ``ERROR: …`` or ``<hash><error>…</error></hash>``. PyCap and REDCapR
recognise an error by those shapes, so they are kept exactly.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator, Sequence
from typing import Any
from xml.sax.saxutils import escape

from django.http import HttpResponse, StreamingHttpResponse

FORMATS = ("json", "csv", "xml")
CONTENT_TYPES = {
    "json": "application/json; charset=utf-8",
    "csv": "text/csv; charset=utf-8",
    "xml": "text/xml; charset=utf-8",
}
XML_HEADER = '<?xml version="1.0" encoding="UTF-8" ?>\n'


class RedcapError(Exception):
    """A refusal in REDCap's words, with its HTTP status (400 by default)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def error_response(message: str, *, status: int, return_format: str) -> HttpResponse:
    """Return REDCap's error body for a message, in the format the client reads errors in."""
    if return_format == "json":
        body = json.dumps({"error": message})
    elif return_format == "csv":
        body = f"ERROR: {message}"
    else:
        return_format = "xml"
        body = f"{XML_HEADER}<hash>\n  <error>{escape(message)}</error>\n</hash>"
    return HttpResponse(body, status=status, content_type=CONTENT_TYPES[return_format])


LINES_PER_CHUNK = 200


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


def _cdata(value: Any) -> str:
    return "<![CDATA[" + _cell(value).replace("]]>", "]]]]><![CDATA[>") + "]]>"


class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_lines(
    columns: Sequence[str], rows: Iterable[dict[str, Any]], header: Sequence[str] | None = None
) -> Iterator[str]:
    """Return the CSV lines of rows (a header of the columns, or of the labels given)."""
    writer = csv.writer(_Echo(), lineterminator="\n")
    yield writer.writerow(list(header or columns))
    # The csv module writes None as an empty cell and str() the rest, as _cell does. Lines go
    # out a few hundred at a time: one chunk per line cost as much as the line.
    lines: list[str] = []
    for row in rows:
        lines.append(writer.writerow(list(map(row.get, columns))))
        if len(lines) == LINES_PER_CHUNK:
            yield "".join(lines)
            lines = []
    if lines:
        yield "".join(lines)


def json_chunks(rows: Iterable[dict[str, Any]]) -> Iterator[str]:
    """Return a JSON array of rows piece by piece (a streamed answer writes them)."""
    yield "["
    pieces: list[str] = []
    first = True
    for row in rows:
        pieces.append(("" if first else ",") + json.dumps(row, ensure_ascii=False))
        first = False
        if len(pieces) == LINES_PER_CHUNK:
            yield "".join(pieces)
            pieces = []
    yield "".join(pieces) + "]"


def xml_chunks(columns: Sequence[str], rows: Iterable[dict[str, Any]]) -> Iterator[str]:
    yield XML_HEADER + "<records>\n"
    for row in rows:
        cells = "".join(f"<{c}>{_cdata(row.get(c))}</{c}>" for c in columns if c in row)
        yield f"<item>{cells}</item>\n"
    yield "</records>"


def rows_response(
    rows: Iterable[dict[str, Any]],
    *,
    columns: Sequence[str],
    format: str,
    header: Sequence[str] | None = None,
    stream: bool = False,
) -> HttpResponse | StreamingHttpResponse:
    """Return rows in a REDCap format: a JSON array of objects, CSV with a header, or XML."""
    if format == "json":
        chunks: Iterable[str] = json_chunks(rows)
    elif format == "csv":
        chunks = csv_lines(columns, rows, header)
    else:
        chunks = xml_chunks(columns, rows)
    if stream:
        return StreamingHttpResponse(chunks, content_type=CONTENT_TYPES[format])
    return HttpResponse("".join(chunks), content_type=CONTENT_TYPES[format])


def object_response(row: dict[str, Any], *, format: str) -> HttpResponse:
    """Return one object (the project's information): JSON object, one CSV line, or XML."""
    if format == "json":
        return HttpResponse(json.dumps(row, ensure_ascii=False), content_type=CONTENT_TYPES["json"])
    if format == "csv":
        return HttpResponse("".join(csv_lines(list(row), [row])), content_type=CONTENT_TYPES["csv"])
    cells = "".join(f"<{k}>{_cdata(v)}</{k}>" for k, v in row.items())
    return HttpResponse(f"{XML_HEADER}<item>{cells}</item>", content_type=CONTENT_TYPES["xml"])


def parse_data(data: str, format: str) -> list[dict[str, str]]:
    """Return the rows a client sends to import: a JSON array, CSV with a header, or XML."""
    if format == "json":
        try:
            parsed = json.loads(data)
        except ValueError as error:
            raise RedcapError(f"The data you provided is not valid JSON: {error}") from None
        if isinstance(parsed, dict):
            parsed = [parsed]
        if not isinstance(parsed, list) or not all(isinstance(row, dict) for row in parsed):
            raise RedcapError("The data you provided must be a JSON array of objects.")
        return [{str(k): _cell(v) for k, v in row.items()} for row in parsed]
    if format == "csv":
        reader = csv.DictReader(io.StringIO(data.lstrip("\ufeff")))
        return [{k: v or "" for k, v in row.items() if k is not None} for row in reader]
    return _xml_rows(data)


def _xml_rows(data: str) -> list[dict[str, str]]:
    from lxml import etree

    # Never resolve entities nor fetch DTDs: the data comes from a client.
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
    )
    try:
        root = etree.fromstring(data.encode("utf-8"), parser)
    except etree.XMLSyntaxError as error:
        raise RedcapError(f"The data you provided is not valid XML: {error}") from None
    if root.getroottree().docinfo.internalDTD is not None:
        raise RedcapError("The data you provided declares a DTD; it is not read.")
    return [
        {child.tag: (child.text or "") for child in item if isinstance(child.tag, str)}
        for item in root.iter("item")
    ]
