"""API of dispensing, returns, destruction, accountability and resupply. No logic here:
selectors and services decide. No answer carries a kit's content to a blinded reader."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from django.http import HttpRequest
from ninja import Field, Router, Schema

from carnet.accounts.permissions import request_user
from carnet.accounts.roles import Action
from carnet.accounts.selectors import study_for_request
from carnet.core.errors import ValidationError
from carnet.pharmacy import selectors_dispensing as selectors
from carnet.pharmacy.assignment import visit_kits_assign
from carnet.pharmacy.dispensing import (
    kit_dispense,
    kit_replace,
    kit_return,
    kits_destroy,
    product_dispense,
    product_return,
)
from carnet.pharmacy.resupply import resupply_propose
from carnet.subjects.selectors import subject_for_actor

router = Router(tags=["pharmacy"])


class PharmacyAwaitingOut(Schema):
    site: str
    subject: str
    event: str
    occurrence: int
    kit: str
    expiry: date


class PharmacyAssignIn(Schema):
    subject: str
    event: str
    occurrence: int = 1


class PharmacyKitsOut(Schema):
    kits: list[str] = Field(description="The kit numbers assigned to the visit")


class PharmacyDispenseIn(Schema):
    site: str
    kit: str = Field("", description="Kit mode: the kit's number")
    subject: str = Field("", description="Hospital stock: the subject")
    product: str = Field("", description="Hospital stock: the product's code")
    quantity: Decimal | None = Field(None, description="Kit mode: the whole kit unless given")
    on: date
    dispensed_to: str
    event: str = ""
    occurrence: int | None = None


class PharmacyDispensingOut(Schema):
    id: int
    site: str
    subject: str
    kit: str
    product: str
    quantity: Decimal
    dispensed_on: date
    dispensed_to: str


class PharmacyReplaceIn(Schema):
    site: str
    kit: str
    reason: str


class PharmacyReturnIn(Schema):
    site: str
    kit: str = ""
    subject: str = ""
    product: str = ""
    quantity: Decimal = Decimal(0)
    on: date
    note: str = ""


class PharmacyDestroyIn(Schema):
    site: str
    kits: list[str]
    on: date
    witness: str
    certificate: str


class PharmacyCountOut(Schema):
    count: int


class PharmacyKitLineOut(Schema):
    number: str
    status: str
    by_ledger: str
    subject: str
    content: str = Field(description="Unblinded readers only; empty otherwise")


class PharmacySiteAccountOut(Schema):
    site: str
    received: int
    dispensed: int
    returned: int
    destroyed: int
    in_stock: int
    balances: bool
    discrepancies: list[str]
    kits: list[PharmacyKitLineOut]


class PharmacyPatientOut(Schema):
    subject: str
    product: str
    dispensed: Decimal
    returned: Decimal
    used: Decimal
    kits: list[str]


class PharmacyProductOut(Schema):
    site: str
    product: str
    received: Decimal
    dispensed: Decimal
    returned: Decimal
    destroyed: Decimal
    in_stock: Decimal


class PharmacyAccountabilityOut(Schema):
    study: str
    balances: bool
    discrepancies: list[str]
    sites: list[PharmacySiteAccountOut]
    patients: list[PharmacyPatientOut]
    products: list[PharmacyProductOut]


class PharmacyResupplyOut(Schema):
    site: str
    usable: int
    minimum_per_content: int
    predicted_visits: int
    kits_per_content: int = Field(description="What to ship of every content alike")
    usable_by_content: dict[str, int] = Field(description="Unblinded readers only")


def _dispensing_out(dispensing) -> PharmacyDispensingOut:  # type: ignore[no-untyped-def]
    return PharmacyDispensingOut(
        id=dispensing.pk,
        site=dispensing.site.code,
        subject=dispensing.subject.identifier,
        kit=dispensing.kit.number if dispensing.kit else "",
        product=dispensing.product,
        quantity=dispensing.quantity,
        dispensed_on=dispensing.dispensed_on,
        dispensed_to=dispensing.dispensed_to,
    )


@router.get("/{identifier}/pharmacy/dispensing", response=list[PharmacyAwaitingOut])
def pharmacy_awaiting(request: HttpRequest, identifier: str) -> list[PharmacyAwaitingOut]:
    """Kits assigned to patients' visits and not dispensed yet, at the sites one dispenses for."""
    study = study_for_request(request, identifier)
    return [
        PharmacyAwaitingOut(**vars(row))
        for row in selectors.kits_awaiting(request_user(request), study)
    ]


@router.post("/{identifier}/pharmacy/assignments", response={201: PharmacyKitsOut})
def pharmacy_assign(
    request: HttpRequest, identifier: str, payload: PharmacyAssignIn
) -> tuple[int, PharmacyKitsOut]:
    """Assign the kit(s) of a subject's dispensing visit (the same ones when already assigned)."""
    study = study_for_request(request, identifier)
    user = request_user(request)
    subject = subject_for_actor(user, study=study, identifier=payload.subject)
    kits = visit_kits_assign(
        actor=user, subject=subject, event=payload.event, occurrence=payload.occurrence
    )
    return 201, PharmacyKitsOut(kits=[kit.number for kit in kits])


@router.post("/{identifier}/pharmacy/dispensings", response={201: PharmacyDispensingOut})
def pharmacy_dispense(
    request: HttpRequest, identifier: str, payload: PharmacyDispenseIn
) -> tuple[int, PharmacyDispensingOut]:
    """Record a dispensing: a kit (kit mode) or a quantity of a product for a subject."""
    study = study_for_request(request, identifier)
    user = request_user(request)
    site = selectors.study_site(study, payload.site)
    if payload.kit:
        dispensing = kit_dispense(
            actor=user,
            study=study,
            site=site,
            number=payload.kit,
            on=payload.on,
            dispensed_to=payload.dispensed_to,
            quantity=payload.quantity,
        )
    else:
        subject = subject_for_actor(user, study=study, identifier=payload.subject)
        if payload.quantity is None:
            raise ValidationError("quantity: give the quantity dispensed.")
        dispensing = product_dispense(
            actor=user,
            study=study,
            site=site,
            subject=subject,
            product=payload.product,
            quantity=payload.quantity,
            on=payload.on,
            dispensed_to=payload.dispensed_to,
            event=payload.event,
            occurrence=payload.occurrence,
        )
    return 201, _dispensing_out(dispensing)


@router.post("/{identifier}/pharmacy/replacements", response={201: PharmacyKitsOut})
def pharmacy_replace(
    request: HttpRequest, identifier: str, payload: PharmacyReplaceIn
) -> tuple[int, PharmacyKitsOut]:
    """Replace a damaged kit of a patient's visit by another (a reason is required)."""
    study = study_for_request(request, identifier)
    kit = kit_replace(
        actor=request_user(request),
        study=study,
        site=selectors.study_site(study, payload.site),
        number=payload.kit,
        reason=payload.reason,
    )
    return 201, PharmacyKitsOut(kits=[kit.number])


@router.post("/{identifier}/pharmacy/returns", response={201: PharmacyCountOut})
def pharmacy_return(
    request: HttpRequest, identifier: str, payload: PharmacyReturnIn
) -> tuple[int, PharmacyCountOut]:
    """Record a kit brought back (with its unused quantity), or an unused product quantity."""
    study = study_for_request(request, identifier)
    user = request_user(request)
    site = selectors.study_site(study, payload.site)
    if payload.kit:
        kit_return(
            actor=user,
            study=study,
            site=site,
            number=payload.kit,
            on=payload.on,
            quantity=payload.quantity,
            note=payload.note,
        )
    else:
        product_return(
            actor=user,
            study=study,
            site=site,
            subject=subject_for_actor(user, study=study, identifier=payload.subject),
            product=payload.product,
            quantity=payload.quantity,
            on=payload.on,
            note=payload.note,
        )
    return 201, PharmacyCountOut(count=1)


@router.post("/{identifier}/pharmacy/destructions", response={201: PharmacyCountOut})
def pharmacy_destroy(
    request: HttpRequest, identifier: str, payload: PharmacyDestroyIn
) -> tuple[int, PharmacyCountOut]:
    """Record kits destroyed at a site, with the witness and the certificate's reference."""
    study = study_for_request(request, identifier)
    destroyed = kits_destroy(
        actor=request_user(request),
        study=study,
        site=selectors.study_site(study, payload.site),
        numbers=payload.kits,
        on=payload.on,
        witness=payload.witness,
        certificate=payload.certificate,
    )
    return 201, PharmacyCountOut(count=len(destroyed))


@router.get("/{identifier}/pharmacy/accountability", response=PharmacyAccountabilityOut)
def pharmacy_accountability(
    request: HttpRequest, identifier: str, site: str = ""
) -> PharmacyAccountabilityOut:
    """Accountability per site, kit, patient and product, with the discrepancies found."""
    study = study_for_request(request, identifier)
    account = selectors.accountability_for_actor(request_user(request), study, site=site)
    return PharmacyAccountabilityOut(
        study=account.study,
        balances=account.balances,
        discrepancies=account.discrepancies,
        sites=[
            PharmacySiteAccountOut(
                site=s.site,
                received=s.received,
                dispensed=s.dispensed,
                returned=s.returned,
                destroyed=s.destroyed,
                in_stock=s.in_stock,
                balances=s.balances,
                discrepancies=s.discrepancies,
                kits=[
                    PharmacyKitLineOut(
                        number=k.number,
                        status=k.status,
                        by_ledger=k.by_ledger,
                        subject=k.subject,
                        content=k.content,
                    )
                    for k in s.kits
                ],
            )
            for s in account.sites
        ],
        patients=[
            PharmacyPatientOut(
                subject=p.subject,
                product=p.product,
                dispensed=p.dispensed,
                returned=p.returned,
                used=p.used,
                kits=p.kits,
            )
            for p in account.patients
        ],
        products=[
            PharmacyProductOut(
                site=p.site,
                product=p.product,
                received=p.received,
                dispensed=p.dispensed,
                returned=p.returned,
                destroyed=p.destroyed,
                in_stock=p.in_stock,
            )
            for p in account.products
        ],
    )


def _resupply_rows(view: selectors.ResupplyView) -> list[PharmacyResupplyOut]:
    return [
        PharmacyResupplyOut(
            site=need.site.code,
            usable=need.usable_total,
            minimum_per_content=need.minimum,
            predicted_visits=need.visits,
            kits_per_content=need.kits_per_content,
            usable_by_content=need.usable if view.unblinded else {},
        )
        for need in view.needs
    ]


@router.get("/{identifier}/pharmacy/resupply", response=list[PharmacyResupplyOut])
def pharmacy_resupply(request: HttpRequest, identifier: str) -> list[PharmacyResupplyOut]:
    """Each site's usable kits, its need of the coming weeks and what to ship of every content."""
    study = study_for_request(request, identifier)
    return _resupply_rows(selectors.resupply_for_actor(request_user(request), study))


@router.post("/{identifier}/pharmacy/resupply", response={201: PharmacyCountOut})
def pharmacy_resupply_propose(
    request: HttpRequest, identifier: str
) -> tuple[int, PharmacyCountOut]:
    """Propose a resupply to the depot for each of one's sites that falls short (once a day)."""
    study = study_for_request(request, identifier)
    user = request_user(request)
    sites = selectors.pharmacy_sites(user, study, actions=(Action.DISPENSE, Action.MANAGE_STUDY))
    proposals = resupply_propose(actor=user, study=study, sites=sites)
    return 201, PharmacyCountOut(count=len(proposals))
