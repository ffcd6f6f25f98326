"""Reading an ODM file safely: no entity, no DTD, no network, a size limit, the official schema.

An ODM file comes from outside (a sponsor, a partner centre, another system): it is parsed with
lxml told to resolve nothing (external entities, DTDs, the network) and to refuse huge trees, after
its size is checked. A file that declares a DOCTYPE at all is refused before parsing: ODM has no
DTD, and an entity declared there is how "billion laughs" and external-entity attacks start.
The file is then validated against the official ODM 1.3.2 schema (shipped in ``schema/``, MIT
licence, from CDISC); the first error is reported with its line.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from django.conf import settings
from django.utils.translation import gettext as _
from lxml import etree

from carnet.core.errors import ValidationError

NS = "http://www.cdisc.org/ns/odm/v1.3"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
SCHEMA_FOLDER = Path(__file__).parent / "schema"
MEGABYTE = 1024 * 1024
DEFAULT_LIMIT_MEGABYTES = 256


class OdmRefused(ValidationError):
    """The file is not an ODM 1.3.2 file Carnet reads: nothing was read into a study."""


def odm_limit_bytes() -> int:
    """Return the largest ODM file read (setting ``CARNET_ODM_MAX_MEGABYTES``)."""
    return int(getattr(settings, "CARNET_ODM_MAX_MEGABYTES", DEFAULT_LIMIT_MEGABYTES)) * MEGABYTE


def safe_parser() -> etree.XMLParser:
    """Return a parser that resolves nothing and keeps to ordinary trees."""
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )


@cache
def odm_schema() -> etree.XMLSchema:
    """Return the official ODM 1.3.2 schema (its imports are files beside it, never fetched)."""
    document = etree.parse(str(SCHEMA_FOLDER / "ODM1-3-2.xsd"), safe_parser())
    return etree.XMLSchema(document)


def _declares_doctype(data: bytes) -> int | None:
    """Return the line of a DOCTYPE declaration before the root element, if there is one."""
    head = data[: 64 * 1024]
    at = head.find(b"<!DOCTYPE")
    if at < 0:
        at = head.find(b"<!ENTITY")
    if at < 0:
        return None
    root = head.find(b"<ODM")
    if 0 <= root < at:
        return None
    return head[:at].count(b"\n") + 1


def odm_parse(data: bytes, *, name: str = "ODM file", validate: bool = True) -> etree._Element:
    """Return the root of an ODM 1.3.2 file, refusing one too big, with a DTD or entities,
    not well formed, or not valid against the official schema (naming the line)."""
    limit = odm_limit_bytes()
    if len(data) > limit:
        raise OdmRefused(
            _("%(file)s: %(size)s MB is over the limit of %(limit)s MB.")
            % {"file": name, "size": len(data) // MEGABYTE, "limit": limit // MEGABYTE}
        )
    line = _declares_doctype(data)
    if line is not None:
        raise OdmRefused(
            _(
                "%(file)s, line %(line)s: a DOCTYPE or entity declaration; ODM files have none "
                "and Carnet resolves no entity (nothing was read)."
            )
            % {"file": name, "line": line}
        )
    try:
        root = etree.fromstring(data, safe_parser())
    except etree.XMLSyntaxError as error:
        raise OdmRefused(
            _("%(file)s, line %(line)s: not well-formed XML: %(error)s")
            % {"file": name, "line": error.lineno, "error": error.msg}
        ) from error
    if root.tag != f"{{{NS}}}ODM":
        raise OdmRefused(
            _("%(file)s, line %(line)s: the root element is %(tag)s, not an ODM 1.3 element.")
            % {"file": name, "line": root.sourceline, "tag": etree.QName(root).localname}
        )
    version = root.get("ODMVersion", "")
    if version not in {"1.3.2", "1.3.1", "1.3"}:
        raise OdmRefused(
            _("%(file)s, line %(line)s: ODMVersion %(version)s; Carnet reads ODM 1.3.2.")
            % {"file": name, "line": root.sourceline, "version": repr(version)}
        )
    if validate:
        schema = odm_schema()
        if not schema.validate(root):
            first = schema.error_log[0]
            more = len(schema.error_log) - 1
            raise OdmRefused(
                _(
                    "%(file)s, line %(line)s: not valid ODM 1.3.2 (%(error)s)%(more)s. A file "
                    "that declares 1.3.2 but uses elements of ODM 2.0 is refused here."
                )
                % {
                    "file": name,
                    "line": first.line,
                    "error": first.message,
                    "more": _("; %(count)s more error(s)") % {"count": more} if more else "",
                }
            )
    return root


def odm_read(path: Path, *, validate: bool = True) -> etree._Element:
    """Return the root of the ODM file at ``path`` (read up to the limit, then checked)."""
    limit = odm_limit_bytes()
    with path.open("rb") as stream:
        data = stream.read(limit + 1)
    return odm_parse(data, name=path.name, validate=validate)


def odm(tag: str) -> str:
    """Return the qualified name of an ODM element."""
    return f"{{{NS}}}{tag}"
