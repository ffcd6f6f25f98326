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
from carnet.interop.models import Cutoff
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
    answer = client.post(
        url, {"action": "export", "cutoff": "DSMB-1", "format": "parquet", "unblinded": "on"}
    )
    assert answer["Content-Type"] == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(answer.content)).namelist()
    assert {"subjects.parquet", "vitals.parquet", "lesions_target.parquet"} <= set(names)


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


def test_the_api_names_a_cutoff_and_answers_the_zip(exporting: Exporting) -> None:
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
    answer = client.post(
        "/api/studies/MINI/exports",
        {"cutoff": "FINAL", "format": "csv"},
        content_type="application/json",
    )
    assert answer.status_code == 200
    assert "MINI.sas" in zipfile.ZipFile(io.BytesIO(answer.content)).namelist()
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
