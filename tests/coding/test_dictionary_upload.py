"""An administrator loads a dictionary version from its files or a zip, on a page or through
the API (the synthetic dictionary of tests/coding/dictionary.py, no real MedDRA content): all or
nothing, a malformed line named with its file and line; archives read defensively; nobody
else loads."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client, override_settings

from carnet.accounts.permissions import PermissionDenied
from carnet.accounts.roles import Role
from carnet.accounts.services import token_create
from carnet.audit.models import AuditEvent
from carnet.coding.files import MEDDRA_FILES
from carnet.coding.models import DictionaryVersion, MeddraLlt, MeddraPt, WhoDrugName
from carnet.coding.uploads import UploadedDictionaryFile, dictionary_upload
from carnet.core.errors import ValidationError
from tests.accounts.personas import ADMIN, person, world
from tests.coding.dictionary import LLTS_V1, write_meddra, write_whodrug
from tests.web.helpers import administrator_client

pytestmark = pytest.mark.django_db
API = "/api/coding/dictionaries"


def _zip(folder: Path, *, prefix: str = "MedAscii/") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.iterdir()):
            archive.writestr(prefix + path.name, path.read_bytes())
        archive.writestr(prefix + "readme.txt", "documentation, not read")
    return buffer.getvalue()


def _broken_meddra(folder: Path) -> Path:
    write_meddra(folder)
    path = folder / "llt.asc"
    lines = path.read_text(encoding="utf-8").splitlines()
    bad = "9500000X$Letters$94000001$$$$$$$Y$$"
    path.write_text("\n".join([*lines[:2], bad, *lines[2:]]) + "\n", encoding="utf-8")
    return folder


def test_the_administrator_loads_a_meddra_zip_through_the_api(tmp_path: Path) -> None:
    client = administrator_client()
    archive = SimpleUploadedFile("MedAscii.zip", _zip(write_meddra(tmp_path / "m")))
    answer = client.post(API, {"kind": "meddra", "version": "27.0", "files": [archive]})
    assert answer.status_code == 201, answer.content
    body = answer.json()
    assert (body["kind"], body["version"], body["terms"]) == ("meddra", "27.0", len(LLTS_V1))
    assert MeddraPt.objects.get(code=94000002).name == "Nausea"
    event = AuditEvent.objects.get(action="coding.dictionary_loaded")
    assert sorted(event.new["files"]) == sorted(MEDDRA_FILES)


def test_a_malformed_line_in_the_zip_loads_nothing_and_names_its_file_and_line(
    tmp_path: Path,
) -> None:
    client = administrator_client()
    archive = SimpleUploadedFile("m.zip", _zip(_broken_meddra(tmp_path / "b")))
    answer = client.post(API, {"kind": "meddra", "version": "27.0", "files": [archive]})
    assert answer.status_code == 400
    assert answer.json()["detail"].startswith("llt.asc, line 3: ")
    assert not DictionaryVersion.objects.exists()
    assert not MeddraLlt.objects.exists()


def test_a_missing_file_and_a_foreign_file_are_refused(tmp_path: Path) -> None:
    folder = write_meddra(tmp_path / "m")
    (folder / "mdhier.asc").unlink()
    with pytest.raises(ValidationError, match=r"mdhier\.asc: the file is missing"):
        dictionary_upload(
            actor=ADMIN,
            kind="meddra",
            version="1",
            files=[UploadedDictionaryFile("m.zip", _zip(folder))],
        )
    with pytest.raises(ValidationError, match="not a file of the distribution"):
        dictionary_upload(
            actor=ADMIN,
            kind="meddra",
            version="1",
            files=[UploadedDictionaryFile("notes.pdf", b"%PDF")],
        )
    with pytest.raises(ValidationError, match="not a zip file"):
        dictionary_upload(
            actor=ADMIN,
            kind="meddra",
            version="1",
            files=[UploadedDictionaryFile("m.zip", b"not a zip")],
        )
    assert not DictionaryVersion.objects.exists()


def test_paths_inside_the_archive_are_never_used(tmp_path: Path) -> None:
    """A member named ../../llt.asc is read as llt.asc into the private folder, never written
    where its path points."""
    outside = tmp_path / "llt.asc"
    archive = _zip(write_meddra(tmp_path / "deep" / "m"), prefix="../../")
    loaded = dictionary_upload(
        actor=ADMIN, kind="meddra", version="1", files=[UploadedDictionaryFile("m.zip", archive)]
    )
    assert loaded.terms == len(LLTS_V1)
    assert not outside.exists()


@override_settings(CARNET_DICTIONARY_UPLOAD_MB=1)
def test_an_archive_expanding_past_the_limit_is_refused() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("llt.asc", b"1" * (2 * 1024 * 1024))  # 2 MB of one byte: a tiny zip
    assert len(buffer.getvalue()) < 64 * 1024
    with pytest.raises(ValidationError, match="larger than 1 MB"):
        dictionary_upload(
            actor=ADMIN,
            kind="meddra",
            version="1",
            files=[UploadedDictionaryFile("m.zip", buffer.getvalue())],
        )


def test_the_administrator_loads_whodrug_files_on_the_page(tmp_path: Path) -> None:
    client = administrator_client()
    assert client.get("/coding/dictionaries/").status_code == 200
    folder = write_whodrug(tmp_path / "w")
    (folder / "DD.txt").open("a", encoding="utf-8").write("ABC\n")
    files = [SimpleUploadedFile(p.name, p.read_bytes()) for p in sorted(folder.iterdir())]
    refused = client.post(
        "/coding/dictionaries/", {"kind": "whodrug", "version": "2025-MAR", "files": files}
    )
    assert refused.status_code == 400
    assert "DD.txt, line 4" in refused.content.decode()
    assert not WhoDrugName.objects.exists()

    folder = write_whodrug(tmp_path / "w2")
    files = [SimpleUploadedFile(p.name, p.read_bytes()) for p in sorted(folder.iterdir())]
    loaded = client.post(
        "/coding/dictionaries/", {"kind": "whodrug", "version": "2025-MAR", "files": files}
    )
    assert loaded.status_code == 200
    assert 'id="dictionary-loaded"' in loaded.content.decode()
    assert WhoDrugName.objects.filter(dictionary__version="2025-MAR").count() == 3


def test_nobody_but_an_administrator_loads(tmp_path: Path) -> None:
    w = world()
    coder = person("cora", study=w.study, role=Role.CODER)
    with pytest.raises(PermissionDenied):
        dictionary_upload(
            actor=coder,
            kind="meddra",
            version="1",
            files=[UploadedDictionaryFile("m.zip", _zip(write_meddra(tmp_path / "m")))],
        )
    _token, key = token_create(actor=ADMIN, user=coder, study=w.study)
    api = Client(headers={"authorization": f"Bearer {key}"})
    archive = SimpleUploadedFile("m.zip", _zip(write_meddra(tmp_path / "m2")))
    answer = api.post(API, {"kind": "meddra", "version": "1", "files": [archive]})
    assert answer.status_code == 403
    assert not DictionaryVersion.objects.exists()
