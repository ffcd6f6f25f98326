"""Destinations and material transfer agreements (MTA): who receives a study's samples, and the
scope within which a sample may leave (partner, sample types, uses, dates, maximum count).
`agreement_refusals` checks a set of samples against an MTA's clauses, naming the clause."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from django.db import transaction
from django.db.models import Count
from django.utils.translation import gettext as _

from carnet.accounts.models import User
from carnet.accounts.permissions import Actor, require
from carnet.accounts.roles import Action
from carnet.audit.services import audit_record
from carnet.biobank.consent import SampleFacts
from carnet.biobank.models import (
    Destination,
    DestinationKind,
    SampleUse,
    ShipmentItem,
    ShipmentStatus,
    TransferAgreement,
)
from carnet.core.clock import utc_now
from carnet.core.errors import ValidationError
from carnet.studies.models import Study


def actor_label(actor: Actor) -> str:
    """Return who acted, as the biobank's rows record it."""
    if isinstance(actor, User):
        return actor.display_name()
    return str(getattr(actor, "label", ""))


def require_samples(actor: Actor, study: Study) -> None:
    """Refuse unless the actor manages the study's samples (a command line acts as the server)."""
    if isinstance(actor, User):
        require(actor, Action.MANAGE_SAMPLES, study=study)


@transaction.atomic
def destination_create(
    *,
    actor: Actor,
    study: Study,
    code: str,
    name: str,
    kind: str,
    address: str = "",
    contact: str = "",
) -> Destination:
    """Record where a study's samples may be sent: its central lab or a research partner."""
    require_samples(actor, study)
    code, name = code.strip(), name.strip()
    if not code:
        raise ValidationError(_("code: give the destination's code."))
    if not name:
        raise ValidationError(_("name: give the destination's name."))
    if kind not in DestinationKind.values:
        raise ValidationError(
            _("kind: %(value)s is not one of %(values)s.")
            % {"value": kind, "values": ", ".join(DestinationKind.values)}
        )
    if Destination.objects.filter(study=study, code=code).exists():
        raise ValidationError(_("code: %(code)s is already a destination.") % {"code": code})
    destination = Destination.objects.create(
        study=study,
        code=code,
        name=name,
        kind=kind,
        address=address.strip(),
        contact=contact.strip(),
        created_at=utc_now(),
        created_by=actor_label(actor),
    )
    audit_record(
        actor=actor,
        action="biobank.destination_created",
        target=destination,
        new={"code": code, "name": name, "kind": kind},
        chain=study.audit_chain,
    )
    return destination


@transaction.atomic
def agreement_create(
    *,
    actor: Actor,
    study: Study,
    reference: str,
    destination: Destination,
    uses: Iterable[str],
    starts_on: date,
    ends_on: date,
    sample_types: Iterable[str] = (),
    maximum_samples: int | None = None,
) -> TransferAgreement:
    """Record a material transfer agreement with a destination, and its scope."""
    require_samples(actor, study)
    reference = reference.strip()
    uses = sorted({use.strip() for use in uses if use.strip()})
    types = sorted({kind.strip() for kind in sample_types if kind.strip()})
    if not reference:
        raise ValidationError(_("reference: give the agreement's reference."))
    if destination.study_id != study.pk:
        raise ValidationError(_("destination: not a destination of this study."))
    if not uses:
        raise ValidationError(_("uses: name at least one use the agreement covers."))
    wrong = [use for use in uses if use not in SampleUse.values]
    if wrong:
        raise ValidationError(
            _("uses: %(value)s is not one of %(values)s.")
            % {"value": ", ".join(wrong), "values": ", ".join(SampleUse.values)}
        )
    if ends_on < starts_on:
        raise ValidationError(_("ends_on: the agreement cannot end before it starts."))
    if maximum_samples is not None and maximum_samples < 1:
        raise ValidationError(_("maximum_samples: give at least 1, or no maximum."))
    if TransferAgreement.objects.filter(study=study, reference=reference).exists():
        raise ValidationError(
            _("reference: %(reference)s is already an agreement.") % {"reference": reference}
        )
    agreement = TransferAgreement.objects.create(
        study=study,
        reference=reference,
        destination=destination,
        uses=uses,
        sample_types=types,
        starts_on=starts_on,
        ends_on=ends_on,
        maximum_samples=maximum_samples,
        created_at=utc_now(),
        created_by=actor_label(actor),
    )
    audit_record(
        actor=actor,
        action="biobank.agreement_created",
        target=agreement,
        new={
            "reference": reference,
            "destination": destination.code,
            "uses": uses,
            "sample_types": types,
            "starts_on": starts_on,
            "ends_on": ends_on,
            "maximum_samples": maximum_samples,
        },
        chain=study.audit_chain,
    )
    return agreement


def samples_sent_under(
    agreement: TransferAgreement, *, excluding_shipment: int | None = None
) -> int:
    """Return how many samples already left under the agreement."""
    items = ShipmentItem.objects.filter(shipment__agreement=agreement).exclude(
        shipment__status=ShipmentStatus.PREPARED
    )
    if excluding_shipment is not None:
        items = items.exclude(shipment_id=excluding_shipment)
    return items.count()


def agreement_refusals(
    agreement: TransferAgreement,
    *,
    destination: Destination,
    uses: Iterable[str],
    samples: Iterable[SampleFacts],
    on: date,
    already_sent: int | None = None,
) -> list[str]:
    """Return each clause of the MTA the samples would break (empty: they may leave under it).

    Set-wise: the sample types come from the samples given, counted once.
    """
    ref = agreement.reference
    refusals = []
    if agreement.destination_id != destination.pk:
        refusals.append(
            _("MTA %(mta)s, partner clause: it is with %(partner)s, not %(destination)s.")
            % {"mta": ref, "partner": agreement.destination.code, "destination": destination.code}
        )
    if not agreement.starts_on <= on <= agreement.ends_on:
        refusals.append(
            _("MTA %(mta)s, dates clause: it runs from %(start)s to %(end)s; today is %(on)s.")
            % {
                "mta": ref,
                "start": agreement.starts_on.isoformat(),
                "end": agreement.ends_on.isoformat(),
                "on": on.isoformat(),
            }
        )
    outside = sorted(set(uses) - set(agreement.uses))
    if outside:
        refusals.append(
            _("MTA %(mta)s, uses clause: it does not cover %(uses)s (it covers %(covered)s).")
            % {"mta": ref, "uses": ", ".join(outside), "covered": ", ".join(agreement.uses)}
        )
    samples = list(samples)
    if agreement.sample_types:
        types: dict[str, list[str]] = {}
        for sample in samples:
            if sample.sample_type not in agreement.sample_types:
                types.setdefault(sample.sample_type, []).append(sample.identifier)
        for kind, identifiers in sorted(types.items()):
            refusals.append(
                _(
                    "MTA %(mta)s, sample types clause: %(type)s is not covered "
                    "(samples %(samples)s)."
                )
                % {"mta": ref, "type": kind, "samples": _first(identifiers)}
            )
    if agreement.maximum_samples is not None:
        sent = samples_sent_under(agreement) if already_sent is None else already_sent
        if sent + len(samples) > agreement.maximum_samples:
            refusals.append(
                _(
                    "MTA %(mta)s, maximum count clause: it allows %(maximum)s samples; "
                    "%(sent)s already left and these are %(count)s more."
                )
                % {
                    "mta": ref,
                    "maximum": agreement.maximum_samples,
                    "sent": sent,
                    "count": len(samples),
                }
            )
    return refusals


def _first(identifiers: list[str], limit: int = 10) -> str:
    identifiers = list(dict.fromkeys(identifiers))
    shown = ", ".join(identifiers[:limit])
    return shown if len(identifiers) <= limit else f"{shown}… (+{len(identifiers) - limit})"


def agreements_in_use(study: Study) -> dict[int, int]:
    """Return, per agreement of the study, how many samples left under it."""
    return dict(
        ShipmentItem.objects.filter(shipment__study=study, shipment__agreement__isnull=False)
        .exclude(shipment__status=ShipmentStatus.PREPARED)
        .values_list("shipment__agreement")
        .annotate(n=Count("pk"))
        .values_list("shipment__agreement", "n")
    )


def destinations_of(study: Study) -> list[Destination]:
    """Return the study's destinations."""
    return list(Destination.objects.filter(study=study).order_by("code"))


def destination_of(study: Study, code: str) -> Destination:
    """Return one destination of the study by code, or refuse naming it."""
    found = Destination.objects.filter(study=study, code=code.strip()).first()
    if found is None:
        raise ValidationError(_("destination: %(code)s is not a destination.") % {"code": code})
    return found


def agreements_of(study: Study) -> list[TransferAgreement]:
    """Return the study's MTAs, each with `sent`: how many samples left under it."""
    agreements = list(
        TransferAgreement.objects.filter(study=study)
        .select_related("destination")
        .order_by("reference")
    )
    sent = agreements_in_use(study)
    for agreement in agreements:
        agreement.sent = sent.get(agreement.pk, 0)  # type: ignore[attr-defined]
    return agreements


def agreement_of(study: Study, reference: str) -> TransferAgreement | None:
    """Return one MTA of the study by reference (None for an empty reference), or refuse."""
    if not reference.strip():
        return None
    found = (
        TransferAgreement.objects.filter(study=study, reference=reference.strip())
        .select_related("destination")
        .first()
    )
    if found is None:
        raise ValidationError(
            _("agreement: %(ref)s is not an MTA of this study.") % {"ref": reference}
        )
    return found
