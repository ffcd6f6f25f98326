"""Uploaded documents as they arrive: written to disk, hashed on the way, refused as soon as they
pass the size limit.

Django keeps small uploads in memory and reads large ones to a temporary file whole, whatever
their size, before any view can look at them: a 300 MB upload to a 5 MB item was read in full,
then held in memory once more to check it. Here the body goes to a file under the data
directory in chunks, and the upload is refused the moment it passes the limit: nothing past the
limit is kept, in memory or on disk. The rest of the body is still read (and dropped) so that the
client, which is still sending, receives the answer rather than a reset connection.
"""

from __future__ import annotations

import hashlib
import tempfile
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import FileUploadHandler, StopUpload
from django.http import HttpRequest
from django.utils.translation import gettext as _

from carnet.core.errors import CarnetError
from carnet.runtime_settings.services import system_setting_value
from carnet.studies.definition.model import Item

MEGABYTE = 1024 * 1024
# The first bytes of a document are kept in memory: they tell what it really is (file.py).
HEAD_BYTES = 64 * 1024
DRAIN_BYTES = 64 * 1024


def upload_limit_megabytes(item: Item | None) -> int:
    """Return the largest document a file item accepts, in megabytes: the item's own
    ``file.max_megabytes``, else the ``upload_max_megabytes`` setting. The one rule."""
    if item is not None and item.file_max_megabytes:
        return item.file_max_megabytes
    return int(system_setting_value("upload_max_megabytes"))


def _remove(path: Path) -> None:
    path.unlink(missing_ok=True)


def incoming_dir() -> Path:
    """Return where uploads are received, created if need be: in the data directory (the file
    system of the stored documents, so that keeping one is a rename), but outside the uploads
    folder, which backups archive while uploads may come and go."""
    folder = Path(settings.DATA_DIR) / "incoming"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


class UploadTooLarge(CarnetError, RequestDataTooBig):
    """The upload passed its size limit; nothing of it was kept (the API answers 413; a page
    that did not catch it answers 400, as Django does for any body too large)."""

    def __init__(self, name: str, limit_megabytes: int) -> None:
        super().__init__(
            _("%(name)s: the file is larger than %(limit)s MB.")
            % {"name": name, "limit": limit_megabytes}
        )
        self.limit_megabytes = limit_megabytes


class ReceivedFile(UploadedFile):
    """An uploaded document received on disk, with its SHA-256 and first bytes.

    The file on disk is removed when this is closed (Django closes a request's files when the
    request ends) or forgotten, unless `keep_as` moved it first.
    """

    def __init__(
        self,
        name: str,
        content_type: str | None = None,
        charset: str | None = None,
        content_type_extra: dict[str, Any] | None = None,
    ) -> None:
        file = tempfile.NamedTemporaryFile(  # noqa: SIM115 (closed with the request)
            suffix=".upload", dir=incoming_dir(), delete=False
        )
        super().__init__(file, name, content_type, 0, charset, content_type_extra)
        self._disk = file
        self.path = Path(file.name)
        self._remove = weakref.finalize(self, _remove, self.path)
        self._digest = hashlib.sha256()
        self.head = b""

    def append(self, chunk: bytes) -> None:
        """Write the next chunk of the document."""
        self._disk.write(chunk)
        self._digest.update(chunk)
        if len(self.head) < HEAD_BYTES:
            self.head += chunk[: HEAD_BYTES - len(self.head)]
        self.size = (self.size or 0) + len(chunk)

    @property
    def sha256(self) -> str:
        return self._digest.hexdigest()

    def keep_as(self, path: Path) -> None:
        """Move the received document to ``path`` (same file system: an atomic rename)."""
        self._disk.flush()
        self.path.replace(path)
        self._remove.detach()

    def close(self) -> None:
        self._disk.close()
        self._remove()  # nothing once kept

    @classmethod
    def of(cls, upload: UploadedFile, *, limit_megabytes: int) -> ReceivedFile:
        """Return ``upload`` received on disk (already, or copied now), held to the limit."""
        if isinstance(upload, ReceivedFile):
            received = upload
        else:
            received = cls(upload.name or "upload", upload.content_type, upload.charset)
            for chunk in upload.chunks():
                received.append(chunk)
                if (received.size or 0) > limit_megabytes * MEGABYTE:
                    received.close()
                    raise UploadTooLarge(received.name or "upload", limit_megabytes)
        if (received.size or 0) > limit_megabytes * MEGABYTE:
            raise UploadTooLarge(received.name or "upload", limit_megabytes)
        received.seek(0)
        return received


class SizeLimitUploadHandler(FileUploadHandler):
    """Receive a request's files on disk, refusing the upload once they pass the limit.

    ``limit_megabytes`` is a number, or a function giving it once the body is read (after the
    request is authenticated); without one, the ``upload_max_megabytes`` setting applies.
    The limit holds for all the files of the request together.
    """

    def __init__(
        self,
        request: HttpRequest | None = None,
        *,
        limit_megabytes: int | Callable[[], int] | None = None,
    ) -> None:
        super().__init__(request)
        self._limit = limit_megabytes
        self.limit_megabytes = 0
        self.received = 0
        self.refusal: UploadTooLarge | None = None
        self.file: ReceivedFile | None = None
        self._body: Any = None

    def handle_raw_input(
        self,
        input_data: Any,
        META: dict[str, Any],
        content_length: int,
        boundary: Any,
        encoding: str | None = None,
    ) -> None:
        limit = self._limit() if callable(self._limit) else self._limit
        self.limit_megabytes = limit or upload_limit_megabytes(None)
        self._body = input_data
        return None  # Django parses the body; this handler only receives its files

    def new_file(self, *args: Any, **kwargs: Any) -> None:
        super().new_file(*args, **kwargs)
        self.file = ReceivedFile(
            self.file_name or "upload", self.content_type, self.charset, self.content_type_extra
        )

    def receive_data_chunk(self, raw_data: bytes, start: int) -> None:
        assert self.file is not None
        self.received += len(raw_data)
        if self.received > self.limit_megabytes * MEGABYTE:
            self.file.close()  # what arrived so far goes too
            self.refusal = UploadTooLarge(self.file_name or "upload", self.limit_megabytes)
            # Read the rest and drop it, so that the client, still sending, gets the answer. In
            # chunks: Django's own draining reads by lines, and a body without a line break
            # would come whole into memory.
            while self._body is not None and self._body.read(DRAIN_BYTES):
                pass
            raise StopUpload(connection_reset=True)  # nothing left for Django to drain
        self.file.append(raw_data)

    def file_complete(self, file_size: int) -> ReceivedFile | None:
        if self.file is None:
            return None
        self.file.seek(0)
        return self.file

    def upload_complete(self) -> None:
        # Raised once the body is read, so that the refusal is what the client receives.
        if self.refusal is not None:
            raise self.refusal

    def upload_interrupted(self) -> None:
        if self.file is not None:
            self.file.close()


def uploads_limit(request: HttpRequest, limit_megabytes: int | Callable[[], int]) -> None:
    """Receive the request's files with `SizeLimitUploadHandler` at this limit; call it before
    anything reads the body (the CSRF check does, for pages)."""
    request.upload_handlers = [SizeLimitUploadHandler(request, limit_megabytes=limit_megabytes)]
