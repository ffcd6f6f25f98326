"""Blinded people never read a kit's content: not on the pharmacy's pages, not in the API's
answers, not in its errors; the unblinded statistician does. The pharmacist sees the kit, not
the arm; a pharmacist of another site sees nothing of site 01."""

from __future__ import annotations

import pytest

from carnet.pharmacy.excursions import excursion_report
from carnet.pharmacy.models import Excursion, Shipment
from carnet.pharmacy.shipments import shipment_receive_kit
from tests.pharmacy.conftest import Pharmacy

pytestmark = pytest.mark.django_db

ARMS = ("experimental", "placebo")


def world(pharmacy: Pharmacy) -> tuple[Shipment, Excursion]:
    numbers = pharmacy.stock(4)
    shipment = pharmacy.shipment(numbers[:3])
    for number in numbers[:3]:
        shipment_receive_kit(actor=pharmacy.pharmacist, shipment=shipment, number=number)
    excursion = excursion_report(
        actor=pharmacy.pharmacist,
        study=pharmacy.study,
        site=pharmacy.site_a,
        numbers=["K001"],
        description="fridge at 12 °C",
    )
    return shipment, excursion


def pages(pharmacy: Pharmacy, shipment: Shipment, excursion: Excursion) -> list[str]:
    base = f"/studies/{pharmacy.study.identifier}/pharmacy/"
    return [
        base + "?site=01",
        base + f"shipments/{shipment.number}/",
        base + f"excursions/{excursion.pk}/",
        base + "excursions/new/?site=01",
    ]


def test_blinded_people_see_kits_without_their_content(pharmacy: Pharmacy) -> None:
    shipment, excursion = world(pharmacy)
    for someone in (pharmacy.pharmacist, pharmacy.nurse, pharmacy.monitor, pharmacy.supply):
        client = pharmacy.client(someone)
        for url in pages(pharmacy, shipment, excursion):
            response = client.get(url)
            if url.endswith("excursions/new/?site=01") and someone != pharmacy.pharmacist:
                continue  # the report's form is the pharmacist's, its page shows numbers only
            assert response.status_code == 200, (someone, url)
            text = response.content.decode()
            assert "K00" in text  # kit numbers are shown
            for arm in ARMS:
                assert arm not in text, (someone.username, url, arm)


def test_the_pharmacist_reads_the_stock_by_status_not_by_arm(pharmacy: Pharmacy) -> None:
    world(pharmacy)
    response = pharmacy.client(pharmacy.pharmacist).get(
        f"/studies/{pharmacy.study.identifier}/pharmacy/?site=01"
    )
    text = response.content.decode()
    assert 'data-status="available"' in text
    assert 'data-kit="K002"' in text
    assert "stock-by-content" not in text
    assert "Content (unblinded)" not in text


def test_the_unblinded_statistician_reads_contents(pharmacy: Pharmacy) -> None:
    world(pharmacy)
    client = pharmacy.client(pharmacy.unblinded)
    text = client.get(f"/studies/{pharmacy.study.identifier}/pharmacy/?site=01").content.decode()
    assert "stock-by-content" in text
    assert "experimental" in text
    kits = pharmacy.api(pharmacy.unblinded).get(
        f"/api/studies/{pharmacy.study.identifier}/pharmacy/kits?site=01"
    )
    assert {row["content"] for row in kits.json()} == {"experimental", "placebo"}


def test_the_api_gives_blinded_people_no_content_even_in_errors(pharmacy: Pharmacy) -> None:
    shipment, _excursion = world(pharmacy)
    api = pharmacy.api(pharmacy.pharmacist)
    base = f"/api/studies/{pharmacy.study.identifier}/pharmacy"
    kits = api.get(base + "/kits?site=01").json()
    assert [row["number"] for row in kits] == ["K001", "K002", "K003"]
    assert {row["content"] for row in kits} == {None}
    stock = api.get(base + "/stock").json()
    assert stock == [
        {
            "site": "01",
            "counts": {**dict.fromkeys(stock[0]["counts"], 0), "available": 2, "quarantined": 1},
            "available_by_content": None,
        }
    ]
    answers = [
        api.post(
            base + f"/shipments/{shipment.number}/receipt",
            {"kit": "K001"},
            content_type="application/json",
        ),
        api.post(
            base + f"/shipments/{shipment.number}/receipt",
            {"kit": "K004"},
            content_type="application/json",
        ),
        api.post(
            base + "/excursions",
            {"site": "01", "kits": ["K001"], "description": "again"},
            content_type="application/json",
        ),
        api.get(base + "/excursions"),
        api.get(base + "/shipments"),
    ]
    assert [a.status_code for a in answers] == [400, 400, 400, 200, 200]
    assert answers[0].json()["detail"] == "kit K001: it was received already (quarantined)."
    for answer in answers:
        for arm in ARMS:
            assert arm not in answer.content.decode()


def test_a_pharmacist_of_another_site_sees_nothing_of_site_01(pharmacy: Pharmacy) -> None:
    shipment, excursion = world(pharmacy)
    client = pharmacy.client(pharmacy.pharmacist_b)
    for url in pages(pharmacy, shipment, excursion):
        assert client.get(url).status_code == 404, url
    api = pharmacy.api(pharmacy.pharmacist_b)
    base = f"/api/studies/{pharmacy.study.identifier}/pharmacy"
    assert api.get(base + "/kits").json() == []
    assert api.get(base + "/shipments").json() == []
    assert api.get(base + "/kits?site=01").status_code == 403
