"""The deviations API: the register, declaring, reviewing, and the per-protocol population."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from carnet.accounts.services import token_create
from tests.accounts.personas import ADMIN, with_second_factor
from tests.quality.deviation_world import DeviationWorld, deviation_world

pytestmark = pytest.mark.django_db


def api(user: Any, dw: DeviationWorld) -> tuple[Client, dict[str, str]]:
    with_second_factor(user)
    _token, key = token_create(actor=ADMIN, user=user, study=dw.world.study)
    return Client(), {"authorization": f"Bearer {key}"}


@pytest.fixture
def dw(tmp_path: Path) -> DeviationWorld:
    world = deviation_world(tmp_path)
    world.vitals(world.include(), 0, sbp=80, dbp=90)  # 01-001
    world.vitals(world.include(site="b"), 0, sbp=80, dbp=90)  # 02-001
    return world


def test_a_monitor_lists_the_deviations_of_the_sites_it_covers(dw: DeviationWorld) -> None:
    client, headers = api(dw.monitor_b, dw)
    body = client.get("/api/studies/MINI/deviations", headers=headers).json()
    assert body["total"] == 1
    (item,) = body["items"]
    assert {k: item[k] for k in ("subject", "site", "origin", "form", "check_name")} == {
        "subject": "02-001",
        "site": "02",
        "origin": "derived",
        "form": "vitals",
        "check_name": "bp_order",
    }
    assert (item["deviation_class"], item["status"], item["resolved"]) == (
        "major",
        "pending",
        False,
    )


def test_a_declaration_and_its_review_through_the_api(dw: DeviationWorld) -> None:
    nurse, nurse_headers = api(dw.nurse, dw)
    declared = nurse.post(
        "/api/studies/MINI/subjects/01-001/deviations",
        {
            "description": "Consent signed after the biopsy",
            "occurred_on": "2026-01-06",
            "deviation_class": "major",
            "category": "consent",
        },
        content_type="application/json",
        headers=nurse_headers,
    )
    assert declared.status_code == 201
    number = declared.json()["number"]
    assert (declared.json()["origin"], declared.json()["declared_by"]) == ("declared", "julie")
    manager, manager_headers = api(dw.data_manager, dw)
    path = f"/api/studies/MINI/deviations/{number}/review"
    refused = manager.post(
        path, {"decision": "rejected"}, content_type="application/json", headers=manager_headers
    )
    assert refused.status_code == 400
    assert refused.json()["detail"] == "reason: Say why the deviation is rejected."
    confirmed = manager.post(
        path, {"decision": "confirmed"}, content_type="application/json", headers=manager_headers
    )
    assert confirmed.status_code == 200
    assert (confirmed.json()["status"], confirmed.json()["reviewed_by"]) == ("confirmed", "dora")
    forbidden = nurse.post(
        path,
        {"decision": "rejected", "reason": "x"},
        content_type="application/json",
        headers=nurse_headers,
    )
    assert forbidden.status_code == 403
    population = manager.get(
        "/api/studies/MINI/deviations/per-protocol", headers=manager_headers
    ).json()
    # Nobody is randomised yet in MINI: the population is empty, and 01-001 not even excluded.
    assert population == {
        "basis": "randomised",
        "size": 0,
        "subjects": [],
        "excluded": [],
        "pending_major": 2,
    }
