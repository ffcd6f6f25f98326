"""Researchers' sample requests: what, how many, for which use and purpose; approved or refused
by the biological resource centre (the study's biobank staff: the role that manages samples,
never the person who asked), and an approved request becomes a shipment under its MTA."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction
from django.utils.translation import gettext as _

from carnet.accounts.models import User
from carnet.accounts.permissions import Actor, PermissionDenied, may
from carnet.accounts.roles import Action
from carnet.audit.services import audit_record
from carnet.biobank.models import (
    Destination,
    DestinationKind,
    RequestStatus,
    Sample,
    SampleRequest,
    SampleUse,
    Shipment,
    TransferAgreement,
)
from carnet.biobank.mta import actor_label, agreement_refusals, require_samples
from carnet.biobank.shipments import _next_reference, shipment_prepare, uses_of
from carnet.core.clock import utc_now
from carnet.core.errors import ValidationError
from carnet.studies.models import Study
from carnet.subjects.environments import environment_written


@transaction.atomic
def sample_request_submit(
    *,
    actor: Actor,
    study: Study,
    destination: Destination,
    sample_type: str,
    quantity: int,
    use: str,
    purpose: str,
) -> SampleRequest:
    """File a researcher's request for samples (any member of the study may ask)."""
    if isinstance(actor, User) and not may(actor, Action.VIEW_STUDY, study=study):
        raise PermissionDenied(
            _("You may not do this here (%(action)s).") % {"action": "view_study"}
        )
    sample_type, purpose = sample_type.strip(), purpose.strip()
    if destination.study_id != study.pk:
        raise ValidationError(_("destination: not a destination of this study."))
    if not sample_type:
        raise ValidationError(_("sample_type: say which type of sample is requested."))
    if quantity < 1:
        raise ValidationError(_("quantity: ask for at least 1 sample."))
    if use not in SampleUse.values:
        raise ValidationError(
            _("use: %(value)s is not one of %(values)s.")
            % {"value": use, "values": ", ".join(SampleUse.values)}
        )
    if not purpose:
        raise ValidationError(_("purpose: describe the research the samples are for."))
    request = SampleRequest.objects.create(
        study=study,
        environment=environment_written(study),
        reference=_next_reference(SampleRequest, study, "REQ"),
        destination=destination,
        sample_type=sample_type,
        quantity=quantity,
        use=use,
        purpose=purpose,
        requested_by=actor_label(actor),
        requested_by_id=actor.pk if isinstance(actor, User) else None,
        requested_at=utc_now(),
    )
    audit_record(
        actor=actor,
        action="biobank.request_submitted",
        target=request,
        new={
            "reference": request.reference,
            "destination": destination.code,
            "sample_type": sample_type,
            "quantity": quantity,
            "use": use,
            "purpose": purpose,
        },
        chain=study.audit_chain,
    )
    return request


@transaction.atomic
def sample_request_decide(
    *,
    actor: Actor,
    request: SampleRequest,
    approve: bool,
    reason: str = "",
    agreement: TransferAgreement | None = None,
) -> SampleRequest:
    """Approve (under an MTA covering it) or refuse (with a reason) a submitted request."""
    study = request.study
    require_samples(actor, study)
    request = SampleRequest.objects.select_for_update().get(pk=request.pk)
    if request.status != RequestStatus.SUBMITTED:
        raise ValidationError(
            _("request %(reference)s: already %(status)s.")
            % {"reference": request.reference, "status": request.status}
        )
    if isinstance(actor, User) and request.requested_by_id == actor.pk:
        raise PermissionDenied(_("You may not decide on your own request."))
    reason = reason.strip()
    if approve:
        if agreement is None and request.destination.kind == DestinationKind.PARTNER:
            raise ValidationError(
                _("agreement: a request from partner %(partner)s is approved under an MTA.")
                % {"partner": request.destination.code}
            )
        if agreement is not None:
            if agreement.study_id != study.pk:
                raise ValidationError(_("agreement: not an agreement of this study."))
            # The clauses a request can already break: partner, dates, uses, type, count.
            probe = [
                Sample(identifier=request.reference, sample_type=request.sample_type)
            ] * request.quantity
            refusals = agreement_refusals(
                agreement,
                destination=request.destination,
                uses=uses_of(request.use, request.destination),
                samples=probe,
                on=utc_now().date(),
            )
            if refusals:
                raise ValidationError("\n".join(refusals))
    elif not reason:
        raise ValidationError(_("reason: say why the request is refused."))
    old = {"status": request.status}
    request.status = RequestStatus.APPROVED if approve else RequestStatus.REFUSED
    request.agreement = agreement if approve else None
    request.decided_by = actor_label(actor)
    request.decided_at = utc_now()
    request.decision_reason = reason
    request.save()
    audit_record(
        actor=actor,
        action="biobank.request_approved" if approve else "biobank.request_refused",
        target=request,
        old=old,
        new={
            "status": request.status,
            "agreement": agreement.reference if approve and agreement else None,
        },
        reason=reason,
        chain=study.audit_chain,
    )
    return request


@transaction.atomic
def sample_request_fulfil(
    *, actor: Actor, request: SampleRequest, identifiers: Iterable[str]
) -> Shipment:
    """Prepare the shipment of an approved request: its samples, to its destination, under its
    MTA; the consent of each patient and the MTA's clauses are checked as for any shipment."""
    require_samples(actor, request.study)
    request = SampleRequest.objects.select_for_update().get(pk=request.pk)
    if request.status != RequestStatus.APPROVED:
        raise ValidationError(
            _("request %(reference)s: it is %(status)s, not approved.")
            % {"reference": request.reference, "status": request.status}
        )
    if Shipment.objects.filter(request=request).exists():
        raise ValidationError(
            _("request %(reference)s: its shipment is already prepared.")
            % {"reference": request.reference}
        )
    wanted = [identifier.strip() for identifier in identifiers if identifier.strip()]
    if len(wanted) > request.quantity:
        raise ValidationError(
            _("samples: the request is for %(quantity)s samples, not %(count)s.")
            % {"quantity": request.quantity, "count": len(wanted)}
        )
    other = list(
        Sample.objects.filter(study=request.study, identifier__in=wanted)
        .exclude(sample_type=request.sample_type)
        .values_list("identifier", flat=True)
    )
    if other:
        raise ValidationError(
            _("samples: %(samples)s are not %(type)s, the type requested.")
            % {"samples": ", ".join(other), "type": request.sample_type}
        )
    return shipment_prepare(
        actor=actor,
        study=request.study,
        destination=request.destination,
        use=request.use,
        identifiers=wanted,
        agreement=request.agreement,
        request=request,
    )


def requests_of_study(study: Study) -> list[SampleRequest]:
    """Return the study's sample requests, newest first."""
    return list(
        SampleRequest.objects.filter(study=study, environment=environment_written(study))
        .select_related("destination", "agreement")
        .order_by("-requested_at", "-pk")[:500]
    )


def request_of(study: Study, reference: str) -> SampleRequest:
    """Return one sample request of the study by reference, or refuse naming it."""
    found = (
        SampleRequest.objects.filter(study=study, reference=reference.strip())
        .select_related("destination", "agreement", "study")
        .first()
    )
    if found is None:
        raise ValidationError(
            _("request: %(ref)s is not a request of this study.") % {"ref": reference}
        )
    return found
