"""ODM on the exports page and through the exports API: the worker makes a zip holding one ODM
1.3.2 file, valid against the official schema; its SHA-256 is the run's."""

from __future__ import annotations

import io
import zipfile

import pytest
from django.urls import reverse
from lxml import etree

from carnet.core.hashing import sha256_hex
from carnet.interop.models import ExportRun
from carnet.interop.tasks import export_run
from tests.interop.conftest import KIT, Exporting
from tests.interop.test_odm_export import official_schema
from tests.interop.test_pages_and_api import signed_in

pytestmark = pytest.mark.django_db


def test_the_page_offers_odm_and_the_worker_makes_a_valid_file(exporting: Exporting) -> None:
    client = signed_in(exporting.unblinded)
    url = reverse("interop:exports", args=["MINI"])
    client.post(url, {"action": "cutoff", "name": "DSMB-1", "reason": "First DSMB"})
    page = client.get(url).content.decode()
    assert 'value="odm"' in page
    assert "CDISC ODM 1.3.2" in page
    queued = client.post(
        url, {"action": "export", "cutoff": "DSMB-1", "format": "odm", "unblinded": "on"}
    )
    assert queued.status_code == 302
    run = ExportRun.objects.get()
    export_run.call(run.pk)
    download = client.get(reverse("interop:export_download", args=["MINI", run.pk]))
    archive = zipfile.ZipFile(io.BytesIO(b"".join(download.streaming_content)))
    (name,) = archive.namelist()
    assert name == "MINI-DSMB-1-odm-snapshot.xml"
    content = archive.read(name)
    assert official_schema().validate(etree.fromstring(content))
    assert KIT.encode() in content  # unblinded, as asked
    run.refresh_from_db()
    assert run.manifest_sha256 == sha256_hex(content)


def test_the_api_makes_a_transactional_odm_and_refuses_dataset_filters(
    exporting: Exporting,
) -> None:
    client = signed_in(exporting.statistician)
    client.post(
        "/api/studies/MINI/cutoffs",
        {"name": "FINAL", "reason": "Final analysis"},
        content_type="application/json",
    )
    refused = client.post(
        "/api/studies/MINI/exports",
        {"cutoff": "FINAL", "format": "odm", "forms": ["vitals"]},
        content_type="application/json",
    )
    assert refused.status_code == 400
    assert "An ODM export holds the whole study" in refused.json()["detail"]
    started = client.post(
        "/api/studies/MINI/exports",
        {"cutoff": "FINAL", "format": "odm-transactional"},
        content_type="application/json",
    )
    assert started.status_code == 202, started.content
    export_run.call(started.json()["id"])
    answer = client.get(f"/api/studies/MINI/exports/{started.json()['id']}/download")
    archive = zipfile.ZipFile(io.BytesIO(b"".join(answer.streaming_content)))
    root = etree.fromstring(archive.read(archive.namelist()[0]))
    assert root.get("FileType") == "Transactional"
    assert KIT.encode() not in etree.tostring(root)  # blinded
