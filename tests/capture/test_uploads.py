"""An upload is saved whole or not at all (issue 15, item 5).

One service keeps the document and saves it as the item's value in one transaction, with a
reason where the form is complete, through the save's guards; page and API share it and one size
limit. The body goes to disk as it arrives and is refused as soon as it passes the limit. A
refused upload (stale version, missing reason, too large) leaves no stored file, no row and no
`file.uploaded` event.
"""

from __future__ import annotations

import hashlib
import io
import re
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.handlers.wsgi import WSGIRequest
from django.test import Client

from carnet.accounts.services import token_create
from carnet.audit.models import AuditEvent
from carnet.capture.models import ItemValue, StoredFile
from carnet.capture.services import form_save
from carnet.capture.uploads import SizeLimitUploadHandler, UploadTooLarge, upload_limit_megabytes
from carnet.runtime_settings.services import system_setting_change
from carnet.studies.definition import study_file_read
from carnet.studies.definition.model import Item, Label
from carnet.studies.services import study_load, study_publish
from tests.accounts.personas import ADMIN, FIXTURE
from tests.capture.conftest import Capture

pytestmark = pytest.mark.django_db

PAGE = "/studies/MINI/subjects/01-001/forms/baseline/1/lesions/files/scan_pdf/"
API = "/api/studies/MINI/subjects/01-001/forms/baseline/1/lesions/files/scan_pdf"
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
MEGABYTE = 1024 * 1024


@pytest.fixture
def data_dir(settings: Any, tmp_path: Path) -> Path:
    settings.DATA_DIR = tmp_path
    return tmp_path


def pdf(size: int = 0, name: str = "scan.pdf") -> SimpleUploadedFile:
    """Return a PDF upload, padded to ``size`` bytes."""
    return SimpleUploadedFile(name, PDF + b"0" * max(size - len(PDF), 0), "application/pdf")


def api_client(capture: Capture) -> Client:
    _token, key = token_create(actor=ADMIN, user=capture.entry, study=capture.world.study)
    return Client(headers={"authorization": f"Bearer {key}"})


def page_client(capture: Capture) -> Client:
    client = Client()
    client.force_login(capture.entry)
    return client


def lesions_saved(capture: Capture, *, complete: bool = False) -> int:
    """Save the lesions form once; return its version."""
    outcome = form_save(
        actor=capture.entry,
        subject=capture.subject,
        event="baseline",
        form="lesions",
        base_version=None,
        rows={"target": {1: {"lesion_site": "liver", "diameter": 20}}},
        complete=complete,
    )
    return outcome.form_instance.version


def stored_files(data_dir: Path) -> list[Path]:
    """Return every document kept and every upload half received."""
    folders = (data_dir / "uploads", data_dir / "incoming")
    return sorted(p for folder in folders for p in folder.rglob("*") if p.is_file())


def assert_nothing_kept(data_dir: Path) -> None:
    assert stored_files(data_dir) == []
    assert not StoredFile.objects.exists()
    assert not AuditEvent.objects.filter(action="file.uploaded").exists()
    assert not ItemValue.objects.filter(item="scan_pdf").exists()


# Each refusal: how the form is prepared, what is sent, what the API answers and the page says.
REFUSALS: dict[str, tuple[Callable[[Capture], int], Callable[[int], dict[str, Any]], int, str]] = {
    "stale version": (
        lambda capture: lesions_saved(capture),
        lambda version: {"version": str(version - 1), "upload": pdf()},
        409,
        "The form changed since you opened it",
    ),
    "missing reason on a complete form": (
        lambda capture: lesions_saved(capture, complete=True),
        lambda version: {"version": str(version), "upload": pdf()},
        400,
        "This form is complete: say why you change it.",
    ),
    "too large": (
        lambda capture: lesions_saved(capture),
        lambda version: {"version": str(version), "upload": pdf(6 * MEGABYTE)},
        413,
        "scan.pdf: the file is larger than 5 MB.",
    ),
}


@pytest.mark.parametrize("refusal", REFUSALS)
def test_a_refused_api_upload_leaves_no_file_row_or_event(
    capture: Capture, data_dir: Path, refusal: str
) -> None:
    prepare, body, status, message = REFUSALS[refusal]
    version = prepare(capture)
    answer = api_client(capture).post(API, body(version))
    assert answer.status_code == status, answer.content
    problem = answer.json()
    assert message in problem["detail"] + " ".join(problem.get("errors", {}).values())
    assert_nothing_kept(data_dir)


@pytest.mark.parametrize("refusal", REFUSALS)
def test_a_refused_page_upload_leaves_no_file_row_or_event(
    capture: Capture, data_dir: Path, refusal: str
) -> None:
    prepare, body, _status, message = REFUSALS[refusal]
    version = prepare(capture)
    client = page_client(capture)
    answer = client.post(PAGE, body(version))
    assert answer.status_code == 302  # back to the form, which says why
    assert message in client.get(answer["Location"]).content.decode()
    assert_nothing_kept(data_dir)


def test_an_upload_to_a_complete_form_with_its_reason_keeps_the_document_and_the_value(
    capture: Capture, data_dir: Path
) -> None:
    version = lesions_saved(capture, complete=True)
    digest = hashlib.sha256(PDF).hexdigest()
    answer = api_client(capture).post(
        API, {"version": str(version), "reason": "report received", "upload": pdf()}
    )
    assert answer.status_code == 200, answer.content
    assert answer.json()["values"]["scan_pdf"]["text"] == digest
    assert answer.json()["version"] == version + 1
    assert stored_files(data_dir) == [data_dir / "uploads" / "files" / digest[:2] / digest]
    assert (data_dir / "uploads" / "files" / digest[:2] / digest).read_bytes() == PDF
    [stored] = StoredFile.objects.all()
    assert (stored.sha256, stored.size, stored.original_name) == (digest, len(PDF), "scan.pdf")
    events = list(AuditEvent.objects.order_by("-seq")[:2])[::-1]
    assert [(e.action, e.reason) for e in events] == [
        ("file.uploaded", "report received"),
        ("item.changed", "report received"),
    ]
    assert events[0].new["sha256"] == events[1].new["text"] == digest


def test_the_page_takes_the_reason_of_a_change_to_a_complete_form(
    capture: Capture, data_dir: Path
) -> None:
    version = lesions_saved(capture, complete=True)
    client = page_client(capture)
    answer = client.post(
        PAGE, {"version": str(version), "reason": "report received", "upload": pdf()}
    )
    assert answer.status_code == 302
    assert "The document is uploaded." in client.get(answer["Location"]).content.decode()
    [value] = ItemValue.objects.filter(item="scan_pdf")
    assert value.text == hashlib.sha256(PDF).hexdigest()
    assert AuditEvent.objects.get(action="file.uploaded").reason == "report received"


def test_page_and_api_hold_an_item_without_its_own_limit_to_the_upload_setting(
    capture: Capture, data_dir: Path, tmp_path: Path
) -> None:
    # An amendment drops the item's own limit: the `upload_max_megabytes` setting applies, in
    # the page as in the API (which used to allow 2 GB).
    text = FIXTURE.read_text(encoding="utf-8")
    assert text.count("file: {max_megabytes: 5, types: [pdf]}") == 1
    amended = tmp_path / "mini.yaml"
    amended.write_text(text.replace("max_megabytes: 5, ", ""), encoding="utf-8")
    study_load(actor=ADMIN, study_file=study_file_read(amended), source_name="mini.yaml")
    study_publish(actor=ADMIN, study=capture.world.study)
    capture.subject.study.refresh_from_db()
    system_setting_change(actor=ADMIN, key="upload_max_megabytes", value=1, reason="small disk")
    version = lesions_saved(capture)
    answer = api_client(capture).post(API, {"version": str(version), "upload": pdf(2 * MEGABYTE)})
    assert answer.status_code == 413
    assert "larger than 1 MB" in answer.json()["detail"]
    client = page_client(capture)
    page = client.post(PAGE, {"version": str(version), "upload": pdf(2 * MEGABYTE)})
    assert "larger than 1 MB" in client.get(page["Location"]).content.decode()
    assert_nothing_kept(data_dir)


def test_the_limit_is_the_items_own_else_the_setting(capture: Capture) -> None:
    own = Item(oid="I.SCAN", name="scan", type="file", label=Label(), file_max_megabytes=5)
    assert upload_limit_megabytes(own) == 5
    plain = Item(oid="I.PHOTO", name="photo", type="file", label=Label())
    assert upload_limit_megabytes(plain) == 50  # the setting's default
    system_setting_change(actor=ADMIN, key="upload_max_megabytes", value=8, reason="bigger scans")
    assert upload_limit_megabytes(plain) == 8


def test_a_nul_character_in_the_reason_is_refused_and_nothing_kept(
    capture: Capture, data_dir: Path
) -> None:
    version = lesions_saved(capture)
    answer = api_client(capture).post(
        API, {"version": str(version), "reason": "scan\x00report", "upload": pdf()}
    )
    assert answer.status_code == 400
    assert "NUL" in answer.json()["errors"]["reason"]
    assert_nothing_kept(data_dir)


# --- the body, as it arrives -------------------------------------------------------------------


class GeneratedBody(io.RawIOBase):
    """A multipart body of one file of ``size`` bytes, produced as it is read (never held)."""

    def __init__(self, boundary: str, size: int) -> None:
        self.parts: Iterator[bytes] = self._parts(boundary.encode(), size)
        self.pending = b""

    @staticmethod
    def _parts(boundary: bytes, size: int) -> Iterator[bytes]:
        yield (
            b"--" + boundary + b"\r\n"
            b'Content-Disposition: form-data; name="upload"; filename="big.pdf"\r\n'
            b"Content-Type: application/pdf\r\n\r\n" + PDF
        )
        block = b"0" * (64 * 1024)
        sent = len(PDF)
        while sent < size:
            yield block
            sent += len(block)
        yield b"\r\n--" + boundary + b"--\r\n"

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self.pending:
            try:
                self.pending = next(self.parts)
            except StopIteration:
                return 0
        count = min(len(buffer), len(self.pending))
        buffer[:count] = self.pending[:count]
        self.pending = self.pending[count:]
        return count


@pytest.mark.slow
def test_an_oversized_body_is_refused_as_it_arrives_without_being_held(data_dir: Path) -> None:
    size, limit_megabytes = 64 * MEGABYTE, 1
    boundary = "carnet-boundary"
    body = GeneratedBody(boundary, size)
    request = WSGIRequest(
        {
            "REQUEST_METHOD": "POST",
            "PATH_INFO": "/upload/",
            "CONTENT_TYPE": f"multipart/form-data; boundary={boundary}",
            "CONTENT_LENGTH": str(size + 1024),
            "wsgi.input": io.BufferedReader(body),
            "SERVER_NAME": "testserver",
            "SERVER_PORT": "80",
        }
    )
    request.upload_handlers = [SizeLimitUploadHandler(request, limit_megabytes=limit_megabytes)]
    tracemalloc.start()
    try:
        with pytest.raises(UploadTooLarge, match="larger than 1 MB"):
            request.FILES  # noqa: B018 (reading the body is what is tested)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < limit_megabytes * MEGABYTE // 2  # chunks pass through; nothing piles up
    assert body.read() == b""  # the rest was read and dropped, so the answer can be sent
    assert stored_files(data_dir) == []  # what arrived before the refusal is gone too


def test_a_browser_upload_passes_its_csrf_check_and_is_held_to_the_limit_before_it(
    capture: Capture, data_dir: Path
) -> None:
    # A browser's POST carries its CSRF token in the body: the check reads the body, so the
    # upload's handler must be in place before it (the test client skips CSRF unless asked).
    client = Client(enforce_csrf_checks=True)
    client.force_login(capture.entry)
    form_page = client.get(PAGE.removesuffix("files/scan_pdf/"))
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form_page.text)
    assert token
    body = {"version": "0", "csrfmiddlewaretoken": token.group(1)}
    forged = client.post(PAGE, {"version": "0", "upload": pdf()})
    assert forged.status_code == 403
    too_large = client.post(PAGE, {**body, "upload": pdf(6 * MEGABYTE)})
    assert "scan.pdf: the file is larger than 5 MB." in client.get(too_large["Location"]).text
    assert_nothing_kept(data_dir)
    uploaded = client.post(PAGE, {**body, "upload": pdf()})
    assert "The document is uploaded." in client.get(uploaded["Location"]).text
    assert ItemValue.objects.get(item="scan_pdf").text == hashlib.sha256(PDF).hexdigest()
