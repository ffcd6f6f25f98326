"""Loading a dictionary version from files sent through a page or the API: the distribution's
files one by one, or a zip of them (MedDRA's MedAscii folder is nine files). The files are
unpacked into a private temporary folder and read by the same loaders as the command line, so
the same checks apply: the first malformed line is refused with its file and line, and nothing
is loaded.

A zip is read defensively: only the distribution's own file names are taken (by their last path
part, whatever folder holds them: no path of the archive is ever used), each at most once, and
the unpacked size is capped (a small archive may expand to a huge one).
"""

from __future__ import annotations

import io
import tempfile
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from django.conf import settings
from django.utils.translation import gettext as _

from carnet.accounts.permissions import Actor
from carnet.coding.files import MEDDRA_FILES
from carnet.coding.models import DictionaryKind, DictionaryVersion
from carnet.coding.services import meddra_load, require_dictionary_loader, whodrug_load
from carnet.core.errors import ValidationError

WHODRUG_FILES = ("DD.txt", "DDA.txt", "INA.txt")
# The unpacked files of one upload together: MedDRA's ASCII files are some 40 MB, WHODrug B3's
# some 200 MB. An installation may raise it (CARNET_DICTIONARY_UPLOAD_MB).
DEFAULT_LIMIT_MB = 512


@dataclass(frozen=True)
class UploadedDictionaryFile:
    """One file as sent: its name (a distribution file or a .zip) and its bytes."""

    name: str
    content: bytes


def _limit() -> int:
    return int(getattr(settings, "CARNET_DICTIONARY_UPLOAD_MB", DEFAULT_LIMIT_MB)) * 1024 * 1024


def _expected(kind: str) -> dict[str, str]:
    names = MEDDRA_FILES if kind == DictionaryKind.MEDDRA else WHODRUG_FILES
    return {name.lower(): name for name in names}


def _too_large() -> ValidationError:
    return ValidationError(
        _("The files are larger than %(mb)s MB unpacked.") % {"mb": _limit() // (1024 * 1024)}
    )


def _unzipped(name: str, content: bytes, expected: dict[str, str]) -> Iterable[tuple[str, bytes]]:
    """Yield the distribution's files found in a zip, by their own name."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(content))
    except zipfile.BadZipFile as error:
        raise ValidationError(_("%(file)s: not a zip file.") % {"file": name}) from error
    with archive:
        for info in archive.infolist():
            base = PurePosixPath(info.filename.replace("\\", "/")).name
            if info.is_dir() or base.lower() not in expected:
                continue  # other files of the distribution (SMQs, documentation) are not read
            if info.file_size > _limit():
                raise _too_large()
            with archive.open(info) as member:
                data = member.read(_limit() + 1)  # the header's size may lie
            if len(data) > _limit():
                raise _too_large()
            yield expected[base.lower()], data


def _collected(kind: str, files: list[UploadedDictionaryFile]) -> dict[str, bytes]:
    expected = _expected(kind)
    found: dict[str, bytes] = {}
    total = 0
    for sent in files:
        base = PurePosixPath(sent.name.replace("\\", "/")).name
        if base.lower().endswith(".zip"):
            members = list(_unzipped(base, sent.content, expected))
        elif base.lower() in expected:
            members = [(expected[base.lower()], sent.content)]
        else:
            raise ValidationError(
                _("%(file)s: not a file of the distribution (expected: %(names)s, or a zip).")
                % {"file": base, "names": ", ".join(expected.values())}
            )
        for member, data in members:
            if member in found:
                raise ValidationError(_("%(file)s: sent twice.") % {"file": member})
            total += len(data)
            if total > _limit():
                raise _too_large()
            found[member] = data
    if not found:
        raise ValidationError(
            _("No file of the distribution was sent (expected: %(names)s).")
            % {"names": ", ".join(expected.values())}
        )
    return found


def dictionary_upload(
    *, actor: Actor, kind: str, version: str, files: list[UploadedDictionaryFile]
) -> DictionaryVersion:
    """Load a dictionary version from uploaded files or a zip of them; all or nothing, a
    malformed line refused with its file and line (as `meddra_load` / `whodrug_load`)."""
    require_dictionary_loader(actor)
    if kind not in DictionaryKind.values:
        raise ValidationError(_("kind: meddra or whodrug."))
    found = _collected(kind, files)
    with tempfile.TemporaryDirectory(prefix="carnet-dictionary-") as folder:
        for name, data in found.items():
            # Names come from the distribution's list only, never from the upload.
            (Path(folder) / name).write_bytes(data)
        load = meddra_load if kind == DictionaryKind.MEDDRA else whodrug_load
        return load(actor=actor, folder=Path(folder), version=version)
