"""The exchange pages, person by person: who sees them (unknown and forbidden are the same 404),
and the technician's flow through them (prepare, send, receive, withdraw, import)."""

from __future__ import annotations

from datetime import date

import pytest
from django.urls import reverse

from carnet.biobank.models import Sample, SampleStatus, Shipment
from carnet.subjects.services import consent_record
from tests.biobank.exchange.conftest import Bank

pytestmark = pytest.mark.django_db

PAGES = ("exchange", "withdrawals", "lims")


@pytest.mark.parametrize("page", PAGES)
def test_who_sees_the_exchange_pages(bank: Bank, page: str) -> None:
    url = reverse(f"biobank:{page}", args=[bank.study.identifier])
    assert bank.client(bank.technician).get(url).status_code == 200
    assert bank.client(bank.technician_b).get(url).status_code == 200
    assert bank.client(bank.outsider).get(url).status_code == 404
    # A researcher sees the requests (to ask for samples), not the rest.
    expected = 200 if page == "exchange" else 404
    assert bank.client(bank.researcher).get(url).status_code == expected
    assert bank.client(bank.nurse).get(url).status_code == expected


def test_the_technician_ships_and_records_the_receipt_through_the_pages(bank: Bank) -> None:
    subject = bank.include()
    bank.sample(subject, identifier="PG-1")
    bank.sample(subject, identifier="PG-2")
    client = bank.client(bank.technician)
    study = bank.study.identifier
    response = client.post(
        reverse("biobank:shipment_new", args=[study]),
        {
            "destination": "PART",
            "use": "future_research",
            "agreement": "MTA-1",
            "samples": "PG-1\nPG-2",
        },
    )
    shipment = Shipment.objects.get()
    assert response.url == reverse("biobank:shipment", args=[study, shipment.reference])
    page = client.get(response.url).content.decode()
    assert 'data-sample="PG-1"' in page
    client.post(reverse("biobank:shipment_send", args=[study, shipment.reference]))
    assert set(Sample.objects.values_list("status", flat=True)) == {SampleStatus.IN_TRANSIT}
    client.post(
        reverse("biobank:shipment_receive", args=[study, shipment.reference]), {"received": "PG-1"}
    )
    page = client.get(
        reverse("biobank:shipment", args=[study, shipment.reference])
    ).content.decode()
    assert '<ul id="missing"><li translate="no">PG-2</li>' in page
    manifest = client.get(reverse("biobank:manifest", args=[study, shipment.reference, "csv"]))
    assert manifest.content.decode().splitlines()[1].startswith(f"{shipment.reference},PART,PG-1,")


def test_a_refused_shipment_shows_the_clause_on_the_page(bank: Bank) -> None:
    bank.sample(bank.include(future_research=False), identifier="PG-9")
    client = bank.client(bank.technician)
    study = bank.study.identifier
    response = client.post(
        reverse("biobank:shipment_new", args=[study]),
        {"destination": "PART", "use": "future_research", "agreement": "MTA-1", "samples": "PG-9"},
        follow=True,
    )
    assert "does not include the optional consent to future research" in response.content.decode()
    assert not Shipment.objects.exists()


def test_the_withdrawal_page_lists_the_samples_and_records_their_destruction(bank: Bank) -> None:
    subject = bank.include()
    bank.sample(subject, identifier="WD-1")
    consent_record(
        actor=bank.nurse,
        subject=subject,
        form_version="v1",
        consented_on=date(2026, 2, 1),
        biobank=True,
        future_research=False,
    )
    client = bank.client(bank.technician)
    url = reverse("biobank:withdrawals", args=[bank.study.identifier])
    assert 'data-sample="WD-1"' in client.get(url).content.decode()
    client.post(url, {"samples": ["WD-1"], "action": "destroyed", "reason": "withdrawal"})
    assert Sample.objects.get().status == SampleStatus.DESTROYED
    assert 'id="nothing-to-dispose"' in client.get(url).content.decode()


def test_the_lims_page_dry_runs_and_reports_located_errors(bank: Bank) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    bank.include()
    client = bank.client(bank.technician)
    url = reverse("biobank:lims", args=[bank.study.identifier])
    good = b"identifier,subject,site,sample_type\nLM-1,01-001,01,plasma\n"
    response = client.post(url, {"file": SimpleUploadedFile("s.csv", good), "dry_run": "on"})
    assert "Dry run, nothing written" in response.content.decode()
    assert not Sample.objects.exists()
    bad = b"identifier,subject,site,sample_type\nLM-1,01-404,01,plasma\n"
    response = client.post(url, {"file": SimpleUploadedFile("s.csv", bad)})
    assert response.status_code == 400
    assert (
        "row 2, column subject: 01-404 is not a subject of this study." in response.content.decode()
    )
    export = client.get(reverse("biobank:lims_export", args=[bank.study.identifier, "carnet"]))
    assert export.content.decode().startswith("identifier,parent,subject,")


def test_the_manifest_prints_as_a_pdf_page_with_every_sample(bank: Bank) -> None:
    from carnet.biobank.shipments import manifest_html, shipment_prepare

    subject = bank.include()
    bank.sample(subject, identifier="PDF-1")
    shipment = shipment_prepare(
        actor=bank.technician,
        study=bank.study,
        destination=bank.central_lab,
        use="protocol_analysis",
        identifiers=["PDF-1"],
    )
    html = manifest_html(shipment)
    assert "<td>PDF-1</td>" in html
    assert "1 samples, prepared by" in html
