"""The subjects API at its real address (/api/studies/MINI/…): the wizard's calls end to end."""

from __future__ import annotations

from datetime import UTC, datetime

import time_machine
from django.test import Client

from carnet.subjects.models import Subject
from tests.subjects.conftest import Cast, Snapshot, include
from tests.web.helpers import enrol

BASE = "/api/studies/MINI"


def signed_in(user) -> Client:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(user)
    return client


def test_a_patient_is_checked_included_seen_and_followed_through_the_api(cast: Cast) -> None:
    alice = signed_in(cast.alice)
    check = alice.post(
        f"{BASE}/eligibility",
        {"values": {"weight": 38, "packs": 0}},
        content_type="application/json",
    )
    assert check.status_code == 200
    assert check.json()["eligible"] is False
    assert [c["name"] for c in check.json()["criteria"] if not c["met"]] == ["adult_weight"]
    assert check.json()["items"] == ["weight", "packs"]

    included = alice.post(
        f"{BASE}/subjects",
        {
            "site": "01",
            "included_on": "2025-06-02",
            "consent": {"form_version": "v1.0", "consented_on": "2025-06-01", "biobank": True},
            "eligibility": {"weight": 72, "packs": 0},
            "sex": "F",
            "age": 61,
        },
        content_type="application/json",
    )
    assert included.status_code == 201, included.json()
    header = included.json()
    assert (header["identifier"], header["site"], header["study_status"]) == (
        "01-001",
        "01",
        "included",
    )
    assert header["consent"]["biobank"] is True
    # Baseline's window closed on the day of inclusion: the inclusion says it took place.
    assert (header["next_visit"]["event"], header["overdue_visits"]) == ("cycle", 0)

    visit = alice.post(
        f"{BASE}/subjects/01-001/visits",
        {"event": "baseline", "visit_on": "2025-06-02"},
        content_type="application/json",
    )
    assert visit.json()["next_visit"]["event"] == "cycle"
    with time_machine.travel(datetime(2025, 6, 25, 10, 0, tzinfo=UTC), tick=False):
        alice.force_login(cast.alice)  # the session of 16 June has expired by the 25th
        overdue = alice.get(f"{BASE}/overdue").json()["items"]
        assert [(row["subject"], row["visit"]["event"]) for row in overdue] == [("01-001", "cycle")]
        listed = alice.get(f"{BASE}/subjects", {"overdue": "true", "study_status": "included"})
        assert [s["identifier"] for s in listed.json()["items"]] == ["01-001"]
    schedule = alice.get(f"{BASE}/subjects/01-001/schedule").json()
    assert [(o["event"], o["status"]) for o in schedule][:2] == [
        ("baseline", "done"),
        ("cycle", "due"),
    ]


def test_a_refusal_is_a_located_problem_and_writes_nothing(cast: Cast) -> None:
    alice = signed_in(cast.alice)
    snapshot = Snapshot()
    refused = alice.post(
        f"{BASE}/subjects",
        {
            "site": "01",
            "included_on": "2025-06-02",
            "consent": {"form_version": "v1.0", "consented_on": "2025-06-01"},
            "eligibility": {"weight": 30, "packs": 90},
        },
        content_type="application/json",
    )
    assert refused.status_code == 400
    assert refused["Content-Type"] == "application/problem+json"
    assert "adult_weight (Weight over 40 kg)" in refused.json()["detail"]
    assert "heavy_smoker (Over 60 pack-years)" in refused.json()["detail"]
    assert snapshot.unchanged()
    assert not Subject.objects.exists()


def test_another_sites_subject_looks_like_no_subject(cast: Cast) -> None:
    signed_in(cast.alice).post(
        f"{BASE}/subjects",
        {
            "site": "01",
            "included_on": "2025-06-02",
            "consent": {"form_version": "v1.0", "consented_on": "2025-06-02"},
            "eligibility": {"weight": 72},
        },
        content_type="application/json",
    )
    bea = signed_in(cast.bea)
    assert bea.get(f"{BASE}/subjects/01-001").json()["detail"] == (
        "There is no subject '01-001' you may see."
    )
    assert bea.get(f"{BASE}/subjects/09-999").status_code == 403
    assert bea.get(f"{BASE}/subjects").json()["items"] == []
    # The refusal speaks French to a client that asks for it, and still says nothing more.
    french = bea.get(f"{BASE}/subjects/01-001", headers={"accept-language": "fr"})
    assert french.status_code == 403
    assert french.json()["detail"] == "Il n'y a pas de patient « 01-001 » que vous puissiez voir."


def test_the_lists_come_in_pages_searched_and_sorted(cast: Cast) -> None:
    """Issue 14 item 8: a study of thousands answers one page at a time, as the pages do."""
    for _ in range(3):
        include(cast)  # 01-001 … 01-003
    for _ in range(2):
        include(cast, site=cast.site_b, actor=cast.bea)  # 02-001, 02-002
    dana = signed_in(cast.dana)
    enrol(dana)  # a data manager's second factor
    first = dana.get(f"{BASE}/subjects", {"per_page": 2}).json()
    assert [s["identifier"] for s in first["items"]] == ["01-001", "01-002"]
    assert {k: v for k, v in first.items() if k != "items"} == {
        "page": 1,
        "pages": 3,
        "per_page": 2,
        "total": 5,
        "total_is_lower_bound": False,
    }
    last = dana.get(f"{BASE}/subjects", {"per_page": 2, "page": 3}).json()
    assert [s["identifier"] for s in last["items"]] == ["02-002"]
    beyond = dana.get(f"{BASE}/subjects", {"per_page": 2, "page": 9}).json()
    assert (beyond["page"], [s["identifier"] for s in beyond["items"]]) == (3, ["02-002"])
    found = dana.get(f"{BASE}/subjects", {"search": "02-00", "sort": "-identifier"}).json()
    assert [s["identifier"] for s in found["items"]] == ["02-002", "02-001"]
    assert found["total"] == 2
    # The page size is bounded, and a bad one is a located problem, not a silent default.
    refused = dana.get(f"{BASE}/subjects", {"per_page": 501})
    assert refused.status_code == 422
    assert "per_page" in str(refused.json())
    for path in ("screening-log", "overdue", "follow-up-campaign"):
        answer = dana.get(f"{BASE}/{path}", {"per_page": 1})
        assert answer.status_code == 200, (path, answer.json())
        assert answer.json()["per_page"] == 1


def test_a_campaign_far_back_is_bounded_not_a_server_error(cast: Cast) -> None:
    """Found by the API fuzzing: months=3049624 reached a date before year 1 (a 500)."""
    include(cast)
    moe = signed_in(cast.moe)
    refused = moe.get(f"{BASE}/follow-up-campaign", {"months": 3049624})
    assert refused.status_code == 422
    assert "months" in str(refused.json())
    early = moe.get(f"{BASE}/follow-up-campaign", {"months": 240, "on": "0001-02-01"})
    assert (early.status_code, early.json()["items"]) == (200, [])
