"""The exports page and the API: a statistician names a cut-off and downloads the zip; the
refusals say why, in the reader's language."""

from __future__ import annotations

import io
import zipfile

import pytest
from django.test import Client
from django.urls import reverse
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from carnet.accounts.models import User
from carnet.core.hashing import sha256_hex
from carnet.interop.models import Cutoff, ExportRun
from carnet.interop.tasks import export_run
from tests.accounts.personas import with_second_factor
from tests.interop.conftest import Exporting

pytestmark = pytest.mark.django_db


def signed_in(user: User) -> Client:
    """Return a client signed in as the person, with the second factor their roles ask for."""
    client = Client()
    client.force_login(with_second_factor(user))
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = TOTPDevice.objects.get(user=user).persistent_id
    session.save()
    return client


def test_a_statistician_names_a_cutoff_and_downloads_the_export_from_the_page(
    exporting: Exporting,
) -> None:
    client = signed_in(exporting.unblinded)
    url = reverse("interop:exports", args=["MINI"])
    named = client.post(url, {"action": "cutoff", "name": "DSMB-1", "reason": "First DSMB"})
    assert named.status_code == 302
    page = client.get(url)
    assert "DSMB-1" in page.content.decode()
    assert 'id="export-unblinded"' in page.content.decode()
    queued = client.post(
        url, {"action": "export", "cutoff": "DSMB-1", "format": "parquet", "unblinded": "on"}
    )
    assert queued.status_code == 302
    run = ExportRun.objects.get()
    page = client.get(url).content.decode()
    assert "Waiting for the worker." in page
    progress = reverse("interop:export_progress", args=["MINI", run.pk])
    assert f'hx-get="{progress}"' in page
    export_run.call(run.pk)  # what `carnet worker` does with the queued task
    line = client.get(progress).content.decode()
    assert "Done." in line
    assert "hx-get" not in line  # the page stops asking
    download = client.get(reverse("interop:export_download", args=["MINI", run.pk]))
    assert download["Content-Type"] == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(b"".join(download.streaming_content))).namelist()
    assert {"subjects.parquet", "vitals.parquet", "lesions_target.parquet"} <= set(names)
    # Nobody else downloads it: it carries the unblinded statistician's view.
    other = signed_in(exporting.statistician)
    assert other.get(reverse("interop:export_download", args=["MINI", run.pk])).status_code == 404


def test_the_page_refuses_a_bad_cutoff_in_french_and_a_monitor_outright(
    exporting: Exporting,
) -> None:
    client = signed_in(exporting.statistician)
    url = reverse("interop:exports", args=["MINI"])
    refused = client.post(
        url,
        {"action": "cutoff", "name": "DSMB 1", "reason": "x"},
        headers={"accept-language": "fr"},
    )
    assert refused.status_code == 400
    assert "n&#x27;est pas un nom de gel" in refused.content.decode()
    assert not Cutoff.objects.exists()
    monitor = signed_in(exporting.monitor).get(url)
    assert monitor.status_code == 403


def test_the_api_names_a_cutoff_starts_an_export_and_serves_its_zip(
    exporting: Exporting,
) -> None:
    client = signed_in(exporting.statistician)
    created = client.post(
        "/api/studies/MINI/cutoffs",
        {"name": "FINAL", "reason": "Final analysis"},
        content_type="application/json",
    )
    assert created.status_code == 201, created.content
    assert created.json()["name"] == "FINAL"
    listed = client.get("/api/studies/MINI/cutoffs").json()
    assert [c["name"] for c in listed] == ["FINAL"]
    started = client.post(
        "/api/studies/MINI/exports",
        {"cutoff": "FINAL", "format": "csv", "values": "labels"},
        content_type="application/json",
    )
    assert started.status_code == 202, started.content
    run_id = started.json()["id"]
    assert started.json()["status"] == "queued"
    early = client.get(f"/api/studies/MINI/exports/{run_id}/download")
    assert early.status_code == 409
    export_run.call(run_id)
    polled = client.get(f"/api/studies/MINI/exports/{run_id}").json()
    assert (polled["status"], polled["percent"], polled["done"]) == ("done", 100, polled["total"])
    answer = client.get(f"/api/studies/MINI/exports/{run_id}/download")
    assert answer.status_code == 200
    content = b"".join(answer.streaming_content)
    assert "MINI.sas" in zipfile.ZipFile(io.BytesIO(content)).namelist()
    assert (
        answer["X-Manifest-SHA256"]
        == polled["manifest_sha256"]
        == sha256_hex(zipfile.ZipFile(io.BytesIO(content)).read("manifest.json"))
    )
    assert [run["id"] for run in client.get("/api/studies/MINI/exports").json()] == [run_id]
    someone_else = signed_in(exporting.unblinded)
    assert someone_else.get(f"/api/studies/MINI/exports/{run_id}").status_code == 403
    unknown = client.post(
        "/api/studies/MINI/exports", {"cutoff": "NOPE"}, content_type="application/json"
    )
    assert unknown.status_code == 400
    assert "has no cut-off named 'NOPE'" in unknown.json()["detail"]
    blinded = client.post(
        "/api/studies/MINI/exports",
        {"cutoff": "FINAL", "unblinded": True},
        content_type="application/json",
    )
    assert blinded.status_code == 403
