"""API of the biobank's exchange: destinations, MTAs, shipments (prepare, send, receipt,
manifest, discrepancies), sample requests, the samples a withdrawal of consent concerns, a
sample's consent for a use, and the LIMS CSV. No logic here: the services decide; a refusal is
a 400 naming the consent or the MTA clause."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from django.http import HttpRequest
from ninja import Field, Router, Schema
from ninja.responses import Status

from carnet.accounts.permissions import PermissionDenied, may, request_user
from carnet.accounts.roles import Action
from carnet.accounts.selectors import study_for_request
from carnet.biobank.consent import sample_dispose, samples_to_dispose, use_refusals
from carnet.biobank.exchange import lims_export, lims_import
from carnet.biobank.models import Sample, SampleRequest, Shipment, TransferAgreement
from carnet.biobank.mta import (
    agreement_create,
    agreement_of,
    agreements_of,
    destination_create,
    destination_of,
    destinations_of,
    require_samples,
)
from carnet.biobank.requests import (
    request_of,
    requests_of_study,
    sample_request_decide,
    sample_request_fulfil,
    sample_request_submit,
)
from carnet.biobank.shipments import (
    discrepancies,
    manifest_csv,
    manifest_rows,
    shipment_of_study,
    shipment_prepare,
    shipment_receive,
    shipment_send,
    shipments_of_study,
)
from carnet.studies.models import Study
from carnet.subjects.environments import environment_written

router = Router(tags=["biobank exchange"])


class BiobankDestinationIn(Schema):
    code: str
    name: str
    kind: str = Field(description="central_lab or partner")
    address: str = ""
    contact: str = ""


class BiobankDestinationOut(Schema):
    code: str
    name: str
    kind: str


class BiobankAgreementIn(Schema):
    reference: str
    destination: str = Field(description="The partner's destination code")
    uses: list[str] = Field(description="storage, protocol_analysis, future_research, …")
    sample_types: list[str] = Field(default_factory=list, description="Empty: any type")
    starts_on: date
    ends_on: date
    maximum_samples: int | None = None


class BiobankAgreementOut(Schema):
    reference: str
    destination: str
    uses: list[str]
    sample_types: list[str]
    starts_on: date
    ends_on: date
    maximum_samples: int | None
    sent: int = Field(description="Samples that left under it")


class BiobankShipmentIn(Schema):
    destination: str
    use: str
    agreement: str = Field("", description="The MTA's reference (required for a partner)")
    samples: list[str]
    reference: str = ""


class BiobankShipmentItemOut(Schema):
    identifier: str
    parent: str
    subject: str
    site: str
    sample_type: str
    volume: str
    unit: str
    received: str = Field(description="yes, no, or empty before the receipt")


class BiobankShipmentOut(Schema):
    reference: str
    destination: str
    use: str
    agreement: str
    request: str
    status: str
    prepared_at: datetime
    sent_at: datetime | None
    received_at: datetime | None
    samples: int


class BiobankShipmentDetailOut(BiobankShipmentOut):
    items: list[BiobankShipmentItemOut]
    missing: list[str]
    unexpected: list[str]


class BiobankReceiptIn(Schema):
    received: list[str] = Field(description="Identifiers the destination received")


class BiobankRequestIn(Schema):
    destination: str
    sample_type: str
    quantity: int
    use: str
    purpose: str


class BiobankDecisionIn(Schema):
    approve: bool
    reason: str = ""
    agreement: str = ""


class BiobankFulfilIn(Schema):
    samples: list[str]


class BiobankRequestOut(Schema):
    reference: str
    destination: str
    sample_type: str
    quantity: int
    use: str
    purpose: str
    status: str
    requested_by: str
    agreement: str
    decided_by: str
    decision_reason: str


class BiobankToDisposeOut(Schema):
    identifier: str
    parent: str
    subject: str
    site: str
    sample_type: str
    status: str
    withdrawal: str = Field(description="What was withdrawn and when: future_research:2026-03-01")
    may_keep: bool = Field(description="Storage consent holds: may be kept for the protocol")


class BiobankDispositionIn(Schema):
    samples: list[str]
    action: str = Field(description="destroyed, returned or kept")
    reason: str


class BiobankConsentOut(Schema):
    identifier: str
    use: str
    allowed: bool
    refusal: str = Field(description="Which consent is missing (empty when allowed)")


class BiobankCsvOut(Schema):
    csv: str = Field(description="The CSV file's content")


class BiobankLimsImportIn(Schema):
    text: str = Field(description="The CSV file's content (Carnet's or OpenSpecimen's columns)")
    dry_run: bool = False


class BiobankLimsImportOut(Schema):
    shape: str
    dry_run: bool
    created: list[str]
    updated: list[str]
    unchanged: int


def _study(request: HttpRequest, identifier: str) -> Study:
    study = study_for_request(request, identifier)
    require_samples(request_user(request), study)
    return study


def _agreement(agreement: TransferAgreement) -> dict[str, Any]:
    return {
        "reference": agreement.reference,
        "destination": agreement.destination.code,
        "uses": agreement.uses,
        "sample_types": agreement.sample_types,
        "starts_on": agreement.starts_on,
        "ends_on": agreement.ends_on,
        "maximum_samples": agreement.maximum_samples,
        "sent": getattr(agreement, "sent", 0),
    }


def _shipment(shipment: Shipment, *, detail: bool = False) -> dict[str, Any]:
    record: dict[str, Any] = {
        "reference": shipment.reference,
        "destination": shipment.destination.code,
        "use": shipment.use,
        "agreement": shipment.agreement.reference if shipment.agreement else "",
        "request": shipment.request.reference if shipment.request else "",
        "status": shipment.status,
        "prepared_at": shipment.prepared_at,
        "sent_at": shipment.sent_at,
        "received_at": shipment.received_at,
        "samples": shipment.items.count(),
    }
    if detail:
        found = discrepancies(shipment)
        record["items"] = manifest_rows(shipment)
        record["missing"] = found.missing
        record["unexpected"] = found.unexpected
    return record


def _request(found: SampleRequest) -> dict[str, Any]:
    return {
        "reference": found.reference,
        "destination": found.destination.code,
        "sample_type": found.sample_type,
        "quantity": found.quantity,
        "use": found.use,
        "purpose": found.purpose,
        "status": found.status,
        "requested_by": found.requested_by,
        "agreement": found.agreement.reference if found.agreement else "",
        "decided_by": found.decided_by,
        "decision_reason": found.decision_reason,
    }


@router.get(
    "/{identifier}/biobank/destinations",
    response=list[BiobankDestinationOut],
    summary="Where the study's samples may be sent (members of the study)",
)
def biobank_destinations(request: HttpRequest, identifier: str) -> list[Any]:
    study = study_for_request(request, identifier)
    return [{"code": d.code, "name": d.name, "kind": d.kind} for d in destinations_of(study)]


@router.post(
    "/{identifier}/biobank/destinations",
    response={201: BiobankDestinationOut},
    summary="Add a destination: the central lab or a research partner (biobank; audited)",
)
def biobank_destination_add(
    request: HttpRequest, identifier: str, body: BiobankDestinationIn
) -> Status:
    study = _study(request, identifier)
    made = destination_create(actor=request_user(request), study=study, **body.dict())
    return Status(201, {"code": made.code, "name": made.name, "kind": made.kind})


@router.get(
    "/{identifier}/biobank/agreements",
    response=list[BiobankAgreementOut],
    summary="The study's material transfer agreements, with the samples sent under each",
)
def biobank_agreements(request: HttpRequest, identifier: str) -> list[Any]:
    return [_agreement(a) for a in agreements_of(_study(request, identifier))]


@router.post(
    "/{identifier}/biobank/agreements",
    response={201: BiobankAgreementOut},
    summary="Record a material transfer agreement and its scope (biobank; audited)",
)
def biobank_agreement_add(
    request: HttpRequest, identifier: str, body: BiobankAgreementIn
) -> Status:
    study = _study(request, identifier)
    values = body.dict()
    values["destination"] = destination_of(study, values["destination"])
    made = agreement_create(actor=request_user(request), study=study, **values)
    return Status(201, _agreement(made))


@router.get(
    "/{identifier}/biobank/shipments",
    response=list[BiobankShipmentOut],
    summary="The study's shipments (biobank)",
)
def biobank_shipments(request: HttpRequest, identifier: str) -> list[Any]:
    study = _study(request, identifier)
    return [_shipment(s) for s in shipments_of_study(request_user(request), study)]


@router.post(
    "/{identifier}/biobank/shipments",
    response={201: BiobankShipmentDetailOut},
    summary="Prepare a shipment; refused whole, naming each consent or MTA clause (audited)",
)
def biobank_shipment_prepare(
    request: HttpRequest, identifier: str, body: BiobankShipmentIn
) -> Status:
    study = _study(request, identifier)
    shipment = shipment_prepare(
        actor=request_user(request),
        study=study,
        destination=destination_of(study, body.destination),
        use=body.use,
        agreement=agreement_of(study, body.agreement),
        identifiers=body.samples,
        reference=body.reference,
    )
    return Status(201, _shipment(shipment, detail=True))


def _found(request: HttpRequest, identifier: str, reference: str) -> Shipment:
    study = _study(request, identifier)
    return shipment_of_study(request_user(request), study, reference)


@router.get(
    "/{identifier}/biobank/shipments/{reference}",
    response=BiobankShipmentDetailOut,
    summary="A shipment, its samples and the discrepancies of its receipt",
)
def biobank_shipment(request: HttpRequest, identifier: str, reference: str) -> Any:
    return _shipment(_found(request, identifier, reference), detail=True)


@router.get(
    "/{identifier}/biobank/shipments/{reference}/manifest",
    response=BiobankCsvOut,
    summary="The shipment's manifest as CSV (the columns docs/biobank-exchange.md lists)",
)
def biobank_manifest(request: HttpRequest, identifier: str, reference: str) -> dict[str, Any]:
    return {"csv": manifest_csv(_found(request, identifier, reference))}


@router.post(
    "/{identifier}/biobank/shipments/{reference}/send",
    response=BiobankShipmentDetailOut,
    summary="Send a prepared shipment (consent and MTA checked again; audited)",
)
def biobank_shipment_send(request: HttpRequest, identifier: str, reference: str) -> Any:
    shipment = shipment_send(
        actor=request_user(request), shipment=_found(request, identifier, reference)
    )
    return _shipment(shipment, detail=True)


@router.post(
    "/{identifier}/biobank/shipments/{reference}/receipt",
    response=BiobankShipmentDetailOut,
    summary="Record what the destination received and reconcile (missing, unexpected)",
)
def biobank_shipment_receipt(
    request: HttpRequest, identifier: str, reference: str, body: BiobankReceiptIn
) -> Any:
    shipment = shipment_receive(
        actor=request_user(request),
        shipment=_found(request, identifier, reference),
        received="\n".join(body.received),
    )
    return _shipment(shipment, detail=True)


@router.get(
    "/{identifier}/biobank/requests",
    response=list[BiobankRequestOut],
    summary="The study's sample requests (members of the study)",
)
def biobank_requests(request: HttpRequest, identifier: str) -> list[Any]:
    study = study_for_request(request, identifier)
    return [_request(r) for r in requests_of_study(study)]


@router.post(
    "/{identifier}/biobank/requests",
    response={201: BiobankRequestOut},
    summary="Ask for samples: what, how many, for which use and purpose (audited)",
)
def biobank_request_submit(request: HttpRequest, identifier: str, body: BiobankRequestIn) -> Status:
    study = study_for_request(request, identifier)
    values = body.dict()
    values["destination"] = destination_of(study, values["destination"])
    made = sample_request_submit(actor=request_user(request), study=study, **values)
    return Status(201, _request(made))


@router.post(
    "/{identifier}/biobank/requests/{reference}/decision",
    response=BiobankRequestOut,
    summary="Approve a request under an MTA, or refuse it with a reason (biobank; audited)",
)
def biobank_request_decide(
    request: HttpRequest, identifier: str, reference: str, body: BiobankDecisionIn
) -> Any:
    study = _study(request, identifier)
    decided = sample_request_decide(
        actor=request_user(request),
        request=request_of(study, reference),
        approve=body.approve,
        reason=body.reason,
        agreement=agreement_of(study, body.agreement),
    )
    return _request(decided)


@router.post(
    "/{identifier}/biobank/requests/{reference}/shipment",
    response={201: BiobankShipmentDetailOut},
    summary="Prepare the shipment of an approved request under its MTA (biobank; audited)",
)
def biobank_request_fulfil(
    request: HttpRequest, identifier: str, reference: str, body: BiobankFulfilIn
) -> Status:
    study = _study(request, identifier)
    shipment = sample_request_fulfil(
        actor=request_user(request), request=request_of(study, reference), identifiers=body.samples
    )
    return Status(201, _shipment(shipment, detail=True))


@router.get(
    "/{identifier}/biobank/withdrawals",
    response=list[BiobankToDisposeOut],
    summary="Samples to destroy or return after a withdrawal of consent (biobank)",
)
def biobank_withdrawals(request: HttpRequest, identifier: str) -> list[Any]:
    study = _study(request, identifier)
    return [
        {
            "identifier": row.sample.identifier,
            "parent": row.sample.parent.identifier if row.sample.parent else "",
            "subject": row.sample.subject.identifier,
            "site": row.sample.site.code,
            "sample_type": row.sample.sample_type,
            "status": row.sample.status,
            "withdrawal": row.withdrawal,
            "may_keep": row.may_keep,
        }
        for row in samples_to_dispose(request_user(request), study)
    ]


@router.post(
    "/{identifier}/biobank/withdrawals",
    response={201: list[str]},
    summary="Record that samples were destroyed, returned or kept, with a reason (audited)",
)
def biobank_withdrawal_record(
    request: HttpRequest, identifier: str, body: BiobankDispositionIn
) -> Status:
    study = _study(request, identifier)
    done = sample_dispose(
        actor=request_user(request),
        study=study,
        identifiers=body.samples,
        action=body.action,
        reason=body.reason,
    )
    return Status(201, [d.sample.identifier for d in done])


@router.get(
    "/{identifier}/biobank/samples/{sample}/consent",
    response=BiobankConsentOut,
    summary="Whether the patient's consent covers a use of a sample, and if not which is missing",
)
def biobank_sample_consent(
    request: HttpRequest, identifier: str, sample: str, use: str
) -> dict[str, Any]:
    study = _study(request, identifier)
    found = Sample.objects.filter(
        study=study, environment=environment_written(study), identifier=sample
    ).first()
    actor = request_user(request)
    if found is None or not may(actor, Action.MANAGE_SAMPLES, study=study, site=found.site):
        raise PermissionDenied("No such sample.")
    refusal = use_refusals([found], [use]).get(found.pk, "")
    return {"identifier": sample, "use": use, "allowed": not refusal, "refusal": refusal}


@router.get(
    "/{identifier}/biobank/lims/samples",
    response=BiobankCsvOut,
    summary="The study's samples as the LIMS CSV (shape: carnet or openspecimen)",
)
def biobank_lims_export(
    request: HttpRequest, identifier: str, shape: str = "carnet"
) -> dict[str, Any]:
    study = _study(request, identifier)
    return {"csv": lims_export(request_user(request), study, shape=shape)}


@router.post(
    "/{identifier}/biobank/lims/import",
    response=BiobankLimsImportOut,
    summary="Import samples from the LIMS: all or nothing, errors by row and column, dry run",
)
def biobank_lims_import(
    request: HttpRequest, identifier: str, body: BiobankLimsImportIn
) -> dict[str, Any]:
    study = _study(request, identifier)
    report = lims_import(
        actor=request_user(request), study=study, text=body.text, dry_run=body.dry_run
    )
    return {
        "shape": report.shape,
        "dry_run": report.dry_run,
        "created": report.created,
        "updated": report.updated,
        "unchanged": report.unchanged,
    }
