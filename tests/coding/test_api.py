"""The coding API: the coder's queue, choosing a code, a coder query, CTCAE lookups, the
recoding impact, and a target set by whoever manages the study."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.test import Client

from carnet.accounts.models import User
from carnet.accounts.services import token_create
from carnet.coding.services import meddra_load
from tests.accounts.personas import ADMIN
from tests.coding.conftest import CLI, Coding
from tests.coding.dictionary import LLTS_V2, write_meddra

pytestmark = pytest.mark.django_db
BASE = "/api/studies/MINI/coding/"


def _api(coding: Coding, user: User) -> Client:
    _token, key = token_create(actor=ADMIN, user=user, study=coding.safety.world.study)
    return Client(headers={"authorization": f"Bearer {key}"})


def test_the_coder_works_through_the_api(coding: Coding, tmp_path: Path) -> None:
    coding.safety.save_ae(None, ae_term="Queasy", ae_start="2026-02-02", ae_grade=1)
    coder = _api(coding, coding.coder)
    [term] = coder.get(BASE + "terms", {"status": "pending"}).json()
    assert (term["verbatim"], term["status"], term["site"]) == ("Queasy", "uncoded", "01")
    found = coder.get(BASE + "search", {"form": "adverse_event", "item": "ae_term", "q": "sick"})
    assert [r["name"] for r in found.json()] == ["Feeling sick"]
    coded = coder.post(
        BASE + f"terms/{term['id']}/code",
        {"code": "95000003", "comment": "queasy = feeling sick"},
        content_type="application/json",
    )
    assert coded.status_code == 200, coded.content
    assert (coded.json()["pt_name"], coded.json()["status"]) == ("Nausea", "coded")
    ctcae = coder.get(BASE + "ctcae", {"term": ["Nausea", "Nope"]}).json()
    assert ctcae["Nausea"]["llt_code"] == 94000002
    assert ctcae["Nope"] is None
    meddra_load(actor=CLI, folder=write_meddra(tmp_path / "v2", LLTS_V2), version="2.0")
    impact = coder.get(
        BASE + "recode", {"form": "adverse_event", "item": "ae_term", "version": "2.0"}
    ).json()
    assert (impact["terms"], impact["changed"]) == (1, 1)
    assert impact["lines"][0]["pt_name"] == "Vomiting"
    applied = coder.post(
        BASE + "recode",
        {"form": "adverse_event", "item": "ae_term", "version": "2.0", "reason": "v2"},
        content_type="application/json",
    )
    assert applied.status_code == 200
    assert coder.get(BASE + "targets").json()[0]["version"] == "2.0"


def test_a_coder_query_through_the_api_and_a_refusal_for_the_nurse(coding: Coding) -> None:
    coding.safety.save_ae(None, ae_term="Meh", ae_start="2026-02-02", ae_grade=1)
    [term] = _api(coding, coding.coder).get(BASE + "terms").json()
    nurse = _api(coding, coding.safety.nurse)
    refused = nurse.post(
        BASE + f"terms/{term['id']}/query", {"text": "?"}, content_type="application/json"
    )
    assert refused.status_code == 403
    asked = _api(coding, coding.coder).post(
        BASE + f"terms/{term['id']}/query",
        {"text": "Which event is it?"},
        content_type="application/json",
    )
    assert asked.json()["status"] == "queried"
