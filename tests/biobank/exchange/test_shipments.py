"""Shipments, MTAs and sample requests: a sample leaves only within its patient's consent and
its MTA (the refusal names which), the whole shipment or nothing; receipt is reconciled."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from carnet.accounts.permissions import PermissionDenied
from carnet.audit.models import AuditEvent
from carnet.biobank.models import RequestStatus, Sample, SampleStatus, Shipment, ShipmentStatus
from carnet.biobank.mta import agreement_create
from carnet.biobank.requests import (
    sample_request_decide,
    sample_request_fulfil,
    sample_request_submit,
)
from carnet.biobank.shipments import (
    ShipmentRefused,
    discrepancies,
    manifest_csv,
    register_send_hook,
    shipment_prepare,
    shipment_receive,
    shipment_send,
)
from carnet.core.clock import utc_today
from carnet.core.errors import ValidationError
from carnet.subjects.services import consent_record
from tests.biobank.exchange.conftest import Bank

pytestmark = pytest.mark.django_db


def _prepare(bank: Bank, identifiers: list[str], **kwargs: object) -> Shipment:
    arguments = {
        "actor": bank.technician,
        "study": bank.study,
        "destination": bank.partner,
        "use": "future_research",
        "agreement": bank.mta,
        "identifiers": identifiers,
    }
    arguments.update(kwargs)
    return shipment_prepare(**arguments)  # type: ignore[arg-type]


def test_a_shipment_to_a_partner_under_its_mta_is_sent_and_reconciled(bank: Bank) -> None:
    subject = bank.include()
    a, b, c = (bank.sample(subject, identifier=f"A-{n}") for n in (1, 2, 3))
    released: list[list[int]] = []
    register_send_hook(lambda _actor, _shipment, pks: released.append(sorted(pks)))
    shipment = _prepare(bank, ["A-1", "A-2", "A-3"])
    assert shipment.reference == "SHP-0001"
    shipment_send(actor=bank.technician, shipment=shipment)
    assert released[-1] == sorted([a.pk, b.pk, c.pk])
    assert set(Sample.objects.values_list("status", flat=True)) == {SampleStatus.IN_TRANSIT}
    assert AuditEvent.objects.filter(action="biobank.sample_shipped").count() == 3
    shipment_receive(
        actor=bank.technician, shipment=shipment, received="identifier\nA-1\nA-3\nZ-9\n"
    )
    found = discrepancies(Shipment.objects.get(pk=shipment.pk))
    assert found.missing == ["A-2"]
    assert found.unexpected == ["Z-9"]
    assert found.received == 2
    assert Sample.objects.get(identifier="A-2").status == SampleStatus.MISSING
    assert Sample.objects.get(identifier="A-1").status == SampleStatus.SHIPPED
    manifest = manifest_csv(shipment).splitlines()
    assert manifest[0] == (
        "shipment,destination,identifier,parent,subject,site,event,sample_type,container,"
        "volume,unit,collected_at,sprec"
    )
    assert manifest[1].startswith("SHP-0001,PART,A-1,,")


def test_a_sample_outside_its_consent_stops_the_whole_shipment(bank: Bank) -> None:
    bank.sample(bank.include(), identifier="OK-1")
    bank.sample(bank.include(future_research=False), identifier="NO-1")
    with pytest.raises(ShipmentRefused) as refused:
        _prepare(bank, ["OK-1", "NO-1"])
    assert refused.value.refusals == [
        "sample NO-1: not for future research: the consent form v1 signed on 2026-01-06 does "
        "not include the optional consent to future research (future_research_consent)."
    ]
    assert not Shipment.objects.exists()


def test_a_withdrawal_after_preparation_stops_the_shipment_at_the_door(bank: Bank) -> None:
    subject = bank.include()
    bank.sample(subject, identifier="L-1")
    shipment = _prepare(bank, ["L-1"])
    consent_record(
        actor=bank.nurse,
        subject=subject,
        form_version="v2",
        consented_on=date(2026, 2, 1),
        biobank=True,
        future_research=False,
    )
    with pytest.raises(ShipmentRefused, match="withdrew the optional consent to future research"):
        shipment_send(actor=bank.technician, shipment=shipment)
    assert Shipment.objects.get().status == ShipmentStatus.PREPARED
    assert Sample.objects.get().status == SampleStatus.STORED


def test_each_mta_clause_refuses_by_name(bank: Bank) -> None:
    subject = bank.include()
    bank.sample(subject, identifier="T-1", sample_type="tumour_ffpe")
    for n in range(11):
        bank.sample(subject, identifier=f"M-{n:02d}")
    with pytest.raises(ShipmentRefused) as refused:
        _prepare(bank, ["T-1"], use="genetic_analysis")
    assert refused.value.refusals == [
        "MTA MTA-1, uses clause: it does not cover genetic_analysis (it covers "
        "future_research, sharing).",
        "MTA MTA-1, sample types clause: tumour_ffpe is not covered (samples T-1).",
    ]
    with pytest.raises(ShipmentRefused, match="maximum count clause: it allows 10 samples; 0"):
        _prepare(bank, [f"M-{n:02d}" for n in range(11)])
    expired = agreement_create(
        actor=bank.technician,
        study=bank.study,
        reference="MTA-OLD",
        destination=bank.partner,
        uses=["future_research", "sharing"],
        starts_on=date(2020, 1, 1),
        ends_on=date(2020, 12, 31),
    )
    with pytest.raises(ShipmentRefused, match="MTA MTA-OLD, dates clause: it runs from 2020-01-01"):
        _prepare(bank, ["M-00"], agreement=expired)
    with pytest.raises(
        ShipmentRefused, match="MTA MTA-1, partner clause: it is with PART, not CLAB"
    ):
        _prepare(bank, ["M-00"], destination=bank.central_lab)
    with pytest.raises(ShipmentRefused, match="only under a material transfer agreement"):
        _prepare(bank, ["M-00"], agreement=None)


def test_the_central_lab_receives_protocol_samples_without_an_mta(bank: Bank) -> None:
    bank.sample(bank.include(biobank=False, future_research=False), identifier="C-1")
    shipment = _prepare(
        bank, ["C-1"], destination=bank.central_lab, use="protocol_analysis", agreement=None
    )
    shipment_send(actor=bank.technician, shipment=shipment)
    assert Sample.objects.get().status == SampleStatus.IN_TRANSIT


def test_unknown_busy_and_foreign_site_samples_are_refused(bank: Bank) -> None:
    subject = bank.include()  # site A
    bank.sample(subject, identifier="B-1")
    with pytest.raises(ShipmentRefused) as refused:
        shipment_prepare(
            actor=bank.technician_b,
            study=bank.study,
            destination=bank.partner,
            use="future_research",
            agreement=bank.mta,
            identifiers=["B-1", "NOPE"],
        )
    assert refused.value.refusals == [
        "sample B-1: no such sample in this study.",
        "sample NOPE: no such sample in this study.",
    ]
    _prepare(bank, ["B-1"])
    with pytest.raises(ShipmentRefused, match="sample B-1: already in shipment SHP-0001"):
        _prepare(bank, ["B-1"])
    with pytest.raises(PermissionDenied):
        _prepare(bank, ["B-1"], actor=bank.nurse)


def test_an_approved_request_becomes_a_shipment_under_its_mta(bank: Bank) -> None:
    subject = bank.include()
    bank.sample(subject, identifier="R-1")
    bank.sample(subject, identifier="R-2")
    request = sample_request_submit(
        actor=bank.researcher,
        study=bank.study,
        destination=bank.partner,
        sample_type="plasma",
        quantity=2,
        use="future_research",
        purpose="ctDNA methylation",
    )
    with pytest.raises(PermissionDenied):
        sample_request_decide(
            actor=bank.researcher, request=request, approve=True, agreement=bank.mta
        )
    with pytest.raises(ValidationError, match="approved under an MTA"):
        sample_request_decide(actor=bank.technician, request=request, approve=True)
    sample_request_decide(actor=bank.technician, request=request, approve=True, agreement=bank.mta)
    shipment = sample_request_fulfil(
        actor=bank.technician, request=request, identifiers=["R-1", "R-2"]
    )
    assert shipment.agreement == bank.mta
    shipment_send(actor=bank.technician, shipment=shipment)
    request.refresh_from_db()
    assert request.status == RequestStatus.SHIPPED


def test_a_request_outside_the_mta_cannot_be_approved_and_a_refusal_needs_a_reason(
    bank: Bank,
) -> None:
    request = sample_request_submit(
        actor=bank.researcher,
        study=bank.study,
        destination=bank.partner,
        sample_type="dna",
        quantity=20,
        use="genetic_analysis",
        purpose="germline panel",
    )
    with pytest.raises(ValidationError) as refused:
        sample_request_decide(
            actor=bank.technician, request=request, approve=True, agreement=bank.mta
        )
    assert str(refused.value).splitlines() == [
        "MTA MTA-1, uses clause: it does not cover genetic_analysis (it covers "
        "future_research, sharing).",
        "MTA MTA-1, sample types clause: dna is not covered (samples REQ-0001).",
        "MTA MTA-1, maximum count clause: it allows 10 samples; 0 already left and these are "
        "20 more.",
    ]
    with pytest.raises(ValidationError, match="reason: say why"):
        sample_request_decide(actor=bank.technician, request=request, approve=False)
    sample_request_decide(
        actor=bank.technician, request=request, approve=False, reason="outside MTA-1"
    )
    request.refresh_from_db()
    assert request.status == RequestStatus.REFUSED
    assert utc_today() - timedelta(days=1) <= request.decided_at.date()


def test_a_shipment_to_a_partner_is_refused_without_the_sharing_consent(bank: Bank) -> None:
    bank.sample(bank.include(), identifier="SH-1")
    bank.sample(bank.include(sharing=False), identifier="SH-2")
    with pytest.raises(ShipmentRefused) as refused:
        _prepare(bank, ["SH-1", "SH-2"])
    assert refused.value.refusals == [
        "sample SH-2: not for sharing outside the centre: the consent form v1 signed on "
        "2026-01-06 does not include the optional consent to sharing samples outside the "
        "centre (sharing_consent)."
    ]
    assert not Shipment.objects.exists()
    # The same sample may go to the central lab for the protocol's analyses: no sharing.
    shipment = _prepare(
        bank, ["SH-2"], destination=bank.central_lab, use="protocol_analysis", agreement=None
    )
    assert shipment.status == ShipmentStatus.PREPARED


def test_a_shipment_costs_the_same_statements_whatever_its_size(bank: Bank) -> None:
    subject = bank.include()
    statements = []
    for prefix, count in (("Q", 2), ("R", 30)):
        identifiers = [f"{prefix}-{n:02d}" for n in range(count)]
        for identifier in identifiers:
            bank.sample(subject, identifier=identifier)
        # To the central lab: the partner's MTA allows 10 samples.
        with CaptureQueriesContext(connection) as queries:
            shipment = _prepare(
                bank,
                identifiers,
                destination=bank.central_lab,
                use="protocol_analysis",
                agreement=None,
            )
            shipment_send(actor=bank.technician, shipment=shipment)
            manifest_csv(shipment)
        statements.append(len(queries.captured_queries))
        shipped = Sample.objects.filter(identifier__in=identifiers)
        assert set(shipped.values_list("status", flat=True)) == {SampleStatus.IN_TRANSIT}
        # Each sample's own audit event, in the one append of the send.
        events = AuditEvent.objects.filter(
            action="biobank.sample_shipped",
            target_id__in=[str(pk) for pk in shipped.values_list("pk", flat=True)],
        )
        assert set(events.values_list("target_type", flat=True)) == {"biobank.sample"}
        assert events.count() == count
    assert statements[0] == statements[1]
