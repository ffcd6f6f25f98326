"""The laboratory pages (listing, CSV, ranges) and API: same rows, same scope, same masking."""

from __future__ import annotations

import csv
import io
from datetime import date

import pytest
from django.test import Client
from django.urls import reverse
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from carnet.accounts.blinding import HIDDEN
from carnet.accounts.services import token_create
from carnet.laboratory.models import NormalRange
from tests.accounts.factories import ADMIN
from tests.accounts.personas import person, with_second_factor
from tests.laboratory.conftest import RANGES_FILE, Lab

pytestmark = pytest.mark.django_db


def signed_in(user) -> Client:  # type: ignore[no-untyped-def]
    """Return a page session of the person, signed in with the second factor as well."""
    client = Client()
    client.force_login(user)
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="Authenticator", confirmed=True)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return client


def api(user, lab: Lab) -> Client:  # type: ignore[no-untyped-def]
    if not TOTPDevice.objects.filter(user=user, confirmed=True).exists():
        with_second_factor(user)
    _token, key = token_create(actor=ADMIN, user=user, study=lab.study)
    return Client(headers={"authorization": f"Bearer {key}"})


def test_the_listing_page_shows_grades_and_keeps_to_the_sites(lab: Lab) -> None:
    at_a = lab.include(lab.alice, lab.site_a, sex="F", age=60)
    at_b = lab.include(lab.marc, lab.site_b, sex="M", age=70)
    lab.sample(lab.alice, at_a, lab_date=date(2026, 1, 5), neutrophils="0.4")
    lab.sample(lab.marc, at_b, lab_date=date(2026, 1, 5), neutrophils="1.0")
    page = signed_in(lab.alice).get(reverse("laboratory:listing", args=["LABS"]))
    assert page.status_code == 200
    text = page.content.decode()
    assert at_a.identifier in text
    assert at_b.identifier not in text
    assert "Neutrophil count decreased" in text
    filtered = signed_in(lab.sophie).get(
        reverse("laboratory:listing", args=["LABS"]), {"grade": "3"}
    )
    assert at_a.identifier in filtered.content.decode()
    assert at_b.identifier not in filtered.content.decode()


def test_a_bad_filter_is_refused_in_words(lab: Lab) -> None:
    page = signed_in(lab.dora).get(reverse("laboratory:listing", args=["LABS"]), {"grade": "9"})
    assert page.status_code == 400
    assert "grade: give a CTCAE grade from 0 to 4." in page.content.decode()


def test_a_subjects_page_and_an_unknown_one(lab: Lab) -> None:
    at_a = lab.include(lab.alice, lab.site_a, sex="F", age=60)
    lab.sample(lab.alice, at_a, lab_date=date(2026, 1, 5), creatinine="300")
    url = reverse("laboratory:subject_listing", args=["LABS", at_a.identifier])
    assert signed_in(lab.alice).get(url).status_code == 200
    # Site B's data entry does not see a subject of site A: no such page.
    assert signed_in(lab.marc).get(url).status_code == 404


def test_the_csv_export_is_the_filtered_listing(lab: Lab) -> None:
    woman = lab.include(lab.alice, lab.site_a, sex="F", age=60)
    lab.sample(lab.alice, woman, lab_date=date(2026, 1, 5), neutrophils="0.4", creatinine="70")
    response = signed_in(lab.dora).get(
        reverse("laboratory:listing_csv", args=["LABS"]), {"flag": "L"}
    )
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [(r["analyte"], r["value"], r["flag"], r["ctcae_grade"]) for r in rows] == [
        ("neutrophils", "0.4", "L", "4")
    ]
    assert rows[0]["sampled_on"] == "2026-01-05"


def test_a_blinded_person_reads_no_arm_revealing_value_on_the_page_csv_or_api(lab: Lab) -> None:
    woman = lab.include(lab.alice, lab.site_a, sex="F", age=60)
    lab.sample(lab.alice, woman, lab_date=date(2026, 1, 5), drug_level="12.5")
    page = signed_in(lab.ben).get(reverse("laboratory:listing", args=["LABS"])).content.decode()
    exported = signed_in(lab.ben).get(reverse("laboratory:listing_csv", args=["LABS"]))
    answer = api(lab.ben, lab).get("/api/studies/LABS/laboratory/values").json()
    for text in (page, exported.content.decode(), str(answer)):
        assert "12.5" not in text
        assert HIDDEN in text
    unblinded = api(lab.una, lab).get("/api/studies/LABS/laboratory/values").json()
    assert unblinded["items"][0]["value"] == "12.5"


def test_the_api_lists_pages_of_values(lab: Lab) -> None:
    woman = lab.include(lab.alice, lab.site_a, sex="F", age=60)
    lab.sample(lab.alice, woman, lab_date=date(2026, 1, 5), neutrophils="0.4", creatinine="70")
    answer = api(lab.sophie, lab).get(
        "/api/studies/LABS/laboratory/values", {"per_page": 1, "page": 2}
    )
    assert answer.status_code == 200
    body = answer.json()
    assert (body["total"], body["pages"], body["page"]) == (2, 2, 2)
    (row,) = body["items"]
    assert (row["analyte"], row["grade"], row["flag"]) == ("neutrophils", 4, "L")
    refused = api(lab.sophie, lab).get("/api/studies/LABS/laboratory/values", {"flag": "X"})
    assert refused.status_code == 400
    assert refused.json()["detail"] == "flag: give L, H or N."


def test_the_api_reads_and_loads_the_ranges(lab: Lab) -> None:
    client = api(lab.dora, lab)
    ranges = client.get("/api/studies/LABS/laboratory/ranges").json()
    assert ranges["date_item"] == "lab_date"
    assert len(ranges["ranges"]) == 5
    assert {item["item"] for item in ranges["items"]} == {
        "neutrophils",
        "creatinine",
        "alt",
        "drug_level",
    }
    content = RANGES_FILE.read_text(encoding="utf-8").replace("high: 7.5", "high: 7.0")
    loaded = client.put(
        "/api/studies/LABS/laboratory/ranges",
        {"file_name": "labs-ranges.yaml", "content": content},
        content_type="application/json",
    )
    assert loaded.status_code == 200
    assert loaded.json()["ranges"] == 5
    assert NormalRange.objects.get(study=lab.study, analyte="neutrophils").high == 7


def test_the_ranges_page(lab: Lab) -> None:
    page = signed_in(lab.sophie).get(reverse("laboratory:ranges", args=["LABS"]))
    assert page.status_code == 200
    assert "Hypokalemia" in page.content.decode()
    assert (
        signed_in(person("olga")).get(reverse("laboratory:ranges", args=["LABS"])).status_code
        == 404
    )
