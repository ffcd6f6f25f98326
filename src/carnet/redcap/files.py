"""``content=file``: a document of a record, as REDCap sends one (its name in Content-Type)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.http import FileResponse, HttpResponse

from carnet.capture.files import document_path
from carnet.redcap.formats import RedcapError
from carnet.redcap.selectors import record_file

if TYPE_CHECKING:
    from carnet.redcap.views import _Call


def file_export(call: _Call) -> HttpResponse | FileResponse:
    """Return the document of one record's file field (``action=export`` only)."""
    if call.post.get("action", "export") != "export":
        raise RedcapError("Files are uploaded and deleted in Carnet's own pages and API.")
    instance = call.post.get("repeat_instance", "1") or "1"
    found = record_file(
        call.user,
        study=call.study,
        project=call.project,
        record=call.post.get("record", ""),
        field_name=call.post.get("field", ""),
        event=call.post.get("event", ""),
        instance=int(instance) if instance.isdigit() else 1,
    )
    if found is None:
        raise RedcapError("There is no file to download for this record")
    sha256, name, content_type = found
    safe_name = name.replace('"', "")
    response = FileResponse(
        document_path(sha256).open("rb"), content_type=f'{content_type}; name="{safe_name}"'
    )
    return response
