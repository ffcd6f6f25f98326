"""API of the installation's dictionaries: an administrator loads a MedDRA or WHODrug version
from its distribution files (or a zip of them), all or nothing. No logic here: the upload
service decides."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import File, Form, Router
from ninja.files import UploadedFile
from ninja.responses import Status

from carnet.accounts.permissions import request_user
from carnet.coding.api import CodingDictionaryOut
from carnet.coding.services import require_dictionary_loader
from carnet.coding.uploads import UploadedDictionaryFile, dictionary_upload

router = Router(tags=["coding"])


@router.post(
    "/coding/dictionaries",
    response={201: CodingDictionaryOut},
    summary="Load a dictionary version from its distribution files or a zip (administrators)",
    description=(
        "Multipart: `kind` (meddra or whodrug), `version`, and `files`: the distribution's "
        "files (MedDRA: llt.asc … mdhier.asc; WHODrug B3: DD.txt, DDA.txt, INA.txt) or one "
        "zip holding them. Every line is checked before anything is written: the first "
        "malformed one is refused (400) with its file and line, and nothing is loaded."
    ),
)
def dictionary_load(
    request: HttpRequest,
    kind: Form[str],
    version: Form[str],
    files: File[list[UploadedFile]] = None,  # type: ignore[assignment]
) -> Status[Any]:
    actor = request_user(request)
    # Refused before the form is read: the files may be large, and a missing one says nothing.
    require_dictionary_loader(actor)
    loaded = dictionary_upload(
        actor=actor,
        kind=kind,
        version=version,
        files=[UploadedDictionaryFile(f.name or "", f.read()) for f in files or []],
    )
    return Status(201, loaded)
