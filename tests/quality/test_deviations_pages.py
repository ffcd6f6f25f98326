"""The deviation pages: the register with its filters, per-protocol count and CSV export, a
subject's deviations with the declaration form, and the data manager's review."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

from carnet.quality.deviation_models import Deviation
from tests.quality.deviation_world import DeviationWorld, deviation_world
from tests.web.helpers import enrol

pytestmark = pytest.mark.django_db


@pytest.fixture
def dw(tmp_path: Path) -> DeviationWorld:
    world = deviation_world(tmp_path)
    world.vitals(world.include(), 0, sbp=80, dbp=90)  # 01-001: a derived major deviation
    world.vitals(world.include(site="b"), 0, sbp=80, dbp=90)  # 02-001
    return world


def client_for(user: object) -> Client:
    """Return a client signed in as the person, past the second factor when the role asks."""
    client = Client()
    client.force_login(user)  # type: ignore[arg-type]
    if client.get("/").status_code == 302:
        enrol(client)
    return client


def test_the_register_shows_the_deviations_of_my_sites_and_the_per_protocol_count(
    dw: DeviationWorld,
) -> None:
    url = reverse("quality:deviations", args=["MINI"])
    page = client_for(dw.monitor_b).get(url)
    assert page.status_code == 200
    text = page.content.decode()
    assert "02-001" in text
    assert "01-001" not in text
    assert "SBP must exceed DBP" in text
    assert "Per-protocol population: 0 randomised subjects" in text
    assert "1 major deviation awaits review." in text
    everything = client_for(dw.data_manager).get(url, {"site": "01"})
    assert "01-001" in everything.content.decode()
    assert "02-001" not in everything.content.decode()


def test_the_register_speaks_french(dw: DeviationWorld) -> None:
    client = client_for(dw.data_manager)
    page = client.get(
        reverse("quality:deviations", args=["MINI"]), headers={"accept-language": "fr"}
    )
    text = page.content.decode()
    assert "La PAS doit dépasser la PAD" in text
    assert "Fenêtre de visite" in text


def test_the_csv_export_keeps_the_filters_and_the_sites(dw: DeviationWorld) -> None:
    response = client_for(dw.monitor_b).get(
        reverse("quality:deviations_csv", args=["MINI"]), {"deviation_class": "major"}
    )
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))  # type: ignore[attr-defined]
    assert [(r["subject"], r["check_name"], r["status"]) for r in rows] == [
        ("02-001", "bp_order", "pending")
    ]


def test_an_outsider_gets_no_register(dw: DeviationWorld) -> None:
    from tests.accounts.personas import person

    outsider = person("oscar")
    assert client_for(outsider).get(reverse("quality:deviations", args=["MINI"])).status_code == 404


def test_the_site_declares_on_the_subjects_page_and_a_refusal_names_the_field(
    dw: DeviationWorld,
) -> None:
    client = client_for(dw.nurse)
    url = reverse("quality:subject_deviations", args=["MINI", "01-001"])
    sent = {
        "description": "Dose given 2 days early",
        "occurred_on": "2999-01-01",
        "deviation_class": "minor",
        "category": "dosing",
    }
    refused = client.post(url, sent)
    assert refused.status_code == 400
    assert "2999-01-01 is in the future" in refused.content.decode()
    assert Deviation.objects.filter(origin="declared").count() == 0
    declared = client.post(url, {**sent, "occurred_on": "2026-01-20"})
    assert declared.status_code == 302
    assert Deviation.objects.filter(origin="declared", declared_by="julie").count() == 1
    assert "Dose given 2 days early" in client.get(url).content.decode()
    # Another site's staff neither sees nor declares for this subject.
    assert client_for(dw.other_site).post(url, sent).status_code == 404


def test_the_data_manager_reviews_on_the_deviation_page(dw: DeviationWorld) -> None:
    deviation = Deviation.objects.get(subject__identifier="01-001")
    url = reverse("quality:deviation", args=["MINI", deviation.pk])
    client = client_for(dw.data_manager)
    refused = client.post(
        url, {"decision": "rejected", "deviation_class": "major", "category": "visit_window"}
    )
    assert refused.status_code == 400
    assert "Say why the deviation is rejected." in refused.content.decode()
    confirmed = client.post(
        url, {"decision": "confirmed", "deviation_class": "major", "category": "visit_window"}
    )
    assert confirmed.status_code == 302
    deviation.refresh_from_db()
    assert (deviation.status, deviation.reviewed_by) == ("confirmed", "dora")
    # The nurse reads the deviation but has no review form and cannot post one.
    nurse = client_for(dw.nurse)
    assert 'id="review"' not in nurse.get(url).content.decode()
    assert nurse.post(url, {"decision": "rejected", "reason": "x"}).status_code == 404
