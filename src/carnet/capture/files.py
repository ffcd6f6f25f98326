"""Documents of file items: what a received document really is, and where it is kept.

A document is kept under the data directory by its SHA-256 (``uploads/files/ab/abcd…``), once
per study whatever the number of values holding it; the value of a file item is that digest.
The save pipeline (`services.form_file_attach`) decides whether a document is kept: these are
its pieces.
"""

from __future__ import annotations

import codecs
import mimetypes
import unicodedata
from pathlib import Path

from django.conf import settings
from django.utils.translation import gettext as _

from carnet.capture.models import StoredFile
from carnet.capture.uploads import ReceivedFile
from carnet.core.errors import ValidationError
from carnet.studies.definition.model import Item
from carnet.studies.models import Study

# What each declared file type may really be, recognised by the first bytes of the file: a
# renamed executable is refused whatever its name says.
SIGNATURES: dict[str, tuple[bytes, ...]] = {
    "pdf": (b"%PDF-",),
    "png": (b"\x89PNG\r\n\x1a\n",),
    "jpeg": (b"\xff\xd8\xff",),
    "tiff": (b"II*\x00", b"MM\x00*"),
    "dicom": (),  # checked at offset 128 below
}
TEXT_TYPES = {"csv", "txt"}


def files_dir() -> Path:
    return Path(settings.DATA_DIR) / "uploads" / "files"


def document_path(sha256: str) -> Path:
    """Return where the document of this digest is kept."""
    return files_dir() / sha256[:2] / sha256


def _file_kind(head: bytes) -> str | None:
    """Return what the first bytes of a file say it is (txt for UTF-8 text), or None."""
    for kind, signatures in SIGNATURES.items():
        if any(head.startswith(signature) for signature in signatures):
            return kind
    if head[128:132] == b"DICM":
        return "dicom"
    try:
        # Incremental: a character cut by the end of the first bytes is not an error.
        codecs.getincrementaldecoder("utf-8")().decode(head[:65536], final=False)
    except UnicodeDecodeError:
        return None
    return "txt"


def document_content_type(item: Item, name: str, head: bytes, size: int) -> str:
    """Return the content type of a document for ``item``; refuse an empty one, or one whose
    first bytes are not of the item's accepted types, whatever its name says."""
    if not size:
        raise ValidationError(_("%(name)s: the file is empty.") % {"name": name})
    kind = _file_kind(head)
    allowed = set(item.file_types or ("pdf", "png", "jpeg"))
    if kind == "txt" and allowed & TEXT_TYPES:
        kind = next(iter(sorted(allowed & TEXT_TYPES)))
    if kind not in allowed:
        raise ValidationError(
            _("%(name)s: the content is not one of the accepted types (%(types)s).")
            % {"name": name, "types": ", ".join(sorted(allowed))}
        )
    return mimetypes.types_map.get(
        "." + ("jpg" if kind == "jpeg" else kind), "application/octet-stream"
    )


def document_name(name: str) -> str:
    """Return the name a document is kept under: the last part of what was sent, without
    control characters (a NUL is refused by PostgreSQL), at most 200 characters."""
    base = Path(name.replace("\\", "/")).name
    shown = "".join(c for c in base if unicodedata.category(c) != "Cc").strip()
    return (shown or "upload")[:200]


def stored_file_keep(
    *, study: Study, received: ReceivedFile, content_type: str, uploaded_by: str
) -> StoredFile:
    """Return the study's row of a received document, added if it is new.

    The document itself is moved into place by `document_place`, last of a write.
    """
    stored = StoredFile.objects.filter(study=study, sha256=received.sha256).first()
    if stored is None:
        stored = StoredFile.objects.create(
            sha256=received.sha256,
            size=received.size or 0,
            content_type=content_type,
            original_name=document_name(received.name or ""),
            study=study,
            uploaded_by=uploaded_by,
        )
    return stored


def document_place(received: ReceivedFile) -> None:
    """Keep a received document under its digest (an atomic rename); one kept already stays.

    Called last in the write's transaction: a write refused before never leaves a document, and
    if the commit then fails, an unreferenced document is left rather than a value without its
    document.
    """
    path = document_path(received.sha256)
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    received.keep_as(path)
