"""Shipments: samples prepared for a destination, checked against the patient's consent and the
MTA, sent (in transit, out of their storage position), received by the destination and
reconciled (missing, unexpected), with a manifest as CSV and PDF.

Every check is set-wise (a fixed number of queries whatever the number of samples) so that a
shipment of 500 samples from a biobank of 100,000 answers quickly.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from django.db import transaction
from django.template.loader import render_to_string
from django.utils.translation import gettext as _

from carnet.accounts.models import User
from carnet.accounts.permissions import Actor, PermissionDenied, site_scope
from carnet.accounts.roles import Action
from carnet.audit.services import AuditEntry, audit_record, audit_record_many
from carnet.biobank.consent import use_refusals
from carnet.biobank.models import (
    Destination,
    DestinationKind,
    RequestStatus,
    Sample,
    SampleRequest,
    SampleStatus,
    SampleUse,
    Shipment,
    ShipmentItem,
    ShipmentStatus,
    TransferAgreement,
)
from carnet.biobank.mta import actor_label, agreement_refusals, require_samples
from carnet.core.clock import utc_now
from carnet.core.errors import ValidationError
from carnet.core.pdf import html_to_pdf
from carnet.db.bulk import rows_insert
from carnet.studies.models import Study
from carnet.subjects.environments import environment_written

# What may be put in a shipment.
SHIPPABLE = frozenset({SampleStatus.COLLECTED, SampleStatus.STORED})
# The audit target of a sample (what `audit_record` writes for a Sample model).
SAMPLE_TARGET = "biobank.sample"
# Refusals listed in one error; the rest are counted.
SHOWN = 20

# Run inside the send's transaction with the sender, the shipment and the pks of the samples
# leaving: the storage part registers here to take them out of their positions, audited as the
# sender's (a hook, so this module does not depend on the storage models).
SendHook = Callable[[Actor, Shipment, list[int]], None]
_send_hooks: list[SendHook] = []


def register_send_hook(hook: SendHook) -> None:
    """Have ``hook`` run whenever samples leave in a shipment (idempotent per function)."""
    if hook not in _send_hooks:
        _send_hooks.append(hook)


class ShipmentRefused(ValidationError):
    """A shipment that may not leave; the message lists each sample and clause refused."""

    def __init__(self, refusals: list[str]) -> None:
        self.refusals = refusals
        shown = refusals[:SHOWN]
        more = len(refusals) - len(shown)
        text = "\n".join(shown)
        if more:
            text += "\n" + _("… and %(count)s more.") % {"count": more}
        super().__init__(text)


def uses_of(use: str, destination: Destination) -> list[str]:
    """Return the uses a shipment needs consent for: its own, and sharing for a partner."""
    uses = [use]
    if destination.kind == DestinationKind.PARTNER and use != SampleUse.SHARING:
        uses.append(SampleUse.SHARING)
    return uses


@dataclass(frozen=True, slots=True)
class ShippedSample:
    """What a shipment's checks read of a sample: read as plain values, not as models, since
    a shipment of 500 samples would otherwise build 500 models of some twenty fields twice."""

    pk: int
    identifier: str
    subject_id: int
    site_id: int
    sample_type: str
    status: str


_FACTS = ("pk", "identifier", "subject_id", "site_id", "sample_type", "status")


def _facts(rows: Iterable[tuple[int, str, int, int, str, str]]) -> list[ShippedSample]:
    return [ShippedSample(*row) for row in rows]


def _samples_by_identifier(
    actor: Actor, study: Study, identifiers: list[str]
) -> tuple[list[ShippedSample], list[str]]:
    """Return the samples named (in the actor's sites) and the refusals for the others."""
    refusals = []
    seen: set[str] = set()
    for identifier in identifiers:
        if identifier in seen:
            refusals.append(_("sample %(sample)s: named twice.") % {"sample": identifier})
        seen.add(identifier)
    # By identifier alone (unique across the installation), the study, environment and sites
    # checked on the rows: with the study in the WHERE clause, SQLite walked the study's
    # 100,000 samples by its (study, environment, status) index instead of looking up 500.
    rows = Sample.objects.filter(identifier__in=seen).order_by("identifier")
    scope = (
        site_scope(actor, Action.MANAGE_SAMPLES, study=study) if isinstance(actor, User) else None
    )
    environment = environment_written(study)
    samples = []
    for study_id, in_environment, *facts in rows.values_list("study_id", "environment", *_FACTS):
        sample = ShippedSample(*facts)
        if study_id != study.pk or in_environment != environment:
            continue  # another study's sample: unknown here
        if scope is None or scope.allows(sample.site_id):
            samples.append(sample)
    known = {sample.identifier for sample in samples}
    for identifier in identifiers:
        if identifier not in known:
            refusals.append(
                _("sample %(sample)s: no such sample in this study.") % {"sample": identifier}
            )
    return samples, refusals


def shipment_refusals(
    *,
    samples: Sequence[ShippedSample | Sample],
    destination: Destination,
    use: str,
    agreement: TransferAgreement | None,
    study: Study,
    exclude_shipment: int | None = None,
) -> list[str]:
    """Return why the samples may not leave (status, other shipment, consent, MTA clauses)."""
    refusals = []
    for sample in samples:
        if sample.status not in SHIPPABLE:
            refusals.append(
                _("sample %(sample)s: it is %(status)s, not collected or stored.")
                % {"sample": sample.identifier, "status": sample.status}
            )
    busy = ShipmentItem.objects.filter(
        sample__in=[s.pk for s in samples], shipment__status=ShipmentStatus.PREPARED
    )
    if exclude_shipment is not None:
        busy = busy.exclude(shipment_id=exclude_shipment)
    for identifier, reference in busy.values_list("sample__identifier", "shipment__reference"):
        refusals.append(
            _("sample %(sample)s: already in shipment %(shipment)s.")
            % {"sample": identifier, "shipment": reference}
        )
    uses = uses_of(use, destination)
    consent = use_refusals(samples, uses)
    refusals.extend(consent[sample.pk] for sample in samples if sample.pk in consent)
    if agreement is not None:
        refusals.extend(
            agreement_refusals(
                agreement,
                destination=destination,
                uses=uses,
                samples=samples,
                on=utc_now().date(),
            )
        )
    elif destination.kind == DestinationKind.PARTNER:
        refusals.append(
            _("MTA: samples go to partner %(partner)s only under a material transfer agreement.")
            % {"partner": destination.code}
        )
    return refusals


def _next_reference(model: type[Shipment] | type[SampleRequest], study: Study, prefix: str) -> str:
    count = model.objects.filter(study=study).count()
    while True:
        count += 1
        reference = f"{prefix}-{count:04d}"
        if not model.objects.filter(study=study, reference=reference).exists():
            return reference


@transaction.atomic
def shipment_prepare(
    *,
    actor: Actor,
    study: Study,
    destination: Destination,
    use: str,
    identifiers: Iterable[str],
    agreement: TransferAgreement | None = None,
    request: SampleRequest | None = None,
    reference: str = "",
) -> Shipment:
    """Prepare a shipment of samples to a destination, refused whole if one sample may not go."""
    require_samples(actor, study)
    if use not in SampleUse.values:
        raise ValidationError(
            _("use: %(value)s is not one of %(values)s.")
            % {"value": use, "values": ", ".join(SampleUse.values)}
        )
    if destination.study_id != study.pk:
        raise ValidationError(_("destination: not a destination of this study."))
    if agreement is not None and agreement.study_id != study.pk:
        raise ValidationError(_("agreement: not an agreement of this study."))
    wanted = [identifier.strip() for identifier in identifiers if identifier.strip()]
    if not wanted:
        raise ValidationError(_("samples: name at least one sample."))
    reference = reference.strip() or _next_reference(Shipment, study, "SHP")
    if Shipment.objects.filter(study=study, reference=reference).exists():
        raise ValidationError(
            _("reference: %(reference)s is already a shipment.") % {"reference": reference}
        )
    samples, refusals = _samples_by_identifier(actor, study, wanted)
    refusals += shipment_refusals(
        samples=samples, destination=destination, use=use, agreement=agreement, study=study
    )
    if refusals:
        raise ShipmentRefused(refusals)
    now = utc_now()
    shipment = Shipment.objects.create(
        study=study,
        environment=environment_written(study),
        reference=reference,
        destination=destination,
        use=use,
        agreement=agreement,
        request=request,
        prepared_at=now,
        prepared_by=actor_label(actor),
    )
    # One INSERT of plain rows (bulk_create prepares each field of each row).
    rows_insert([ShipmentItem(shipment_id=shipment.pk, sample_id=sample.pk) for sample in samples])
    audit_record(
        actor=actor,
        action="biobank.shipment_prepared",
        target=shipment,
        new={
            "reference": reference,
            "destination": destination.code,
            "use": use,
            "agreement": agreement.reference if agreement else None,
            "request": request.reference if request else None,
            "samples": [sample.identifier for sample in samples],
        },
        chain=study.audit_chain,
    )
    return shipment


@transaction.atomic
def shipment_send(*, actor: Actor, shipment: Shipment) -> Shipment:
    """Send a prepared shipment: its samples are in transit, out of their storage positions.

    Consent and MTA are checked again at the door: a withdrawal recorded since the preparation
    stops the whole shipment.
    """
    study = shipment.study
    require_samples(actor, study)
    shipment = Shipment.objects.select_for_update().get(pk=shipment.pk)
    if shipment.status != ShipmentStatus.PREPARED:
        raise ValidationError(
            _("shipment %(reference)s: already %(status)s.")
            % {"reference": shipment.reference, "status": shipment.status}
        )
    # Locked, so that no other change of these samples slips between the checks and the
    # update; read as plain values (see ShippedSample).
    samples = _facts(
        Sample.objects.select_for_update()
        .filter(pk__in=ShipmentItem.objects.filter(shipment=shipment).values("sample_id"))
        .order_by("identifier")
        .values_list(*_FACTS)
    )
    if isinstance(actor, User):
        scope = site_scope(actor, Action.MANAGE_SAMPLES, study=study)
        outside = [s.identifier for s in samples if not scope.allows(s.site_id)]
        if outside:
            raise PermissionDenied(
                _("You may not send samples of sites you do not manage: %(samples)s.")
                % {"samples": ", ".join(outside[:SHOWN])}
            )
    refusals = shipment_refusals(
        samples=samples,
        destination=shipment.destination,
        use=shipment.use,
        agreement=shipment.agreement,
        study=study,
        exclude_shipment=shipment.pk,
    )
    if refusals:
        raise ShipmentRefused(refusals)
    now = utc_now()
    pks = [sample.pk for sample in samples]
    for hook in _send_hooks:
        hook(actor, shipment, pks)
    Sample.objects.filter(pk__in=pks).update(status=SampleStatus.IN_TRANSIT, updated_at=now)
    shipment.status = ShipmentStatus.SENT
    shipment.sent_at = now
    shipment.sent_by = actor_label(actor)
    shipment.save(update_fields=["status", "sent_at", "sent_by"])
    entries = [
        AuditEntry(
            action="biobank.shipment_sent",
            target=shipment,
            new={
                "reference": shipment.reference,
                "destination": shipment.destination.code,
                "samples": len(samples),
            },
        )
    ]
    entries += [
        AuditEntry(
            action="biobank.sample_shipped",
            target=(SAMPLE_TARGET, str(sample.pk)),
            old={"status": sample.status},
            new={"status": SampleStatus.IN_TRANSIT, "shipment": shipment.reference},
        )
        for sample in samples
    ]
    if shipment.request_id is not None:
        SampleRequest.objects.filter(pk=shipment.request_id).update(status=RequestStatus.SHIPPED)
        entries.append(
            AuditEntry(
                action="biobank.request_shipped",
                target=("biobank.samplerequest", str(shipment.request_id)),
                new={"status": RequestStatus.SHIPPED, "shipment": shipment.reference},
            )
        )
    audit_record_many(actor=actor, entries=entries, chain=study.audit_chain)
    return shipment


def _identifiers_from_text(text: str) -> list[str]:
    """Return the identifiers of a typed or uploaded list (one a line, or a CSV's first column)."""
    identifiers = []
    for row in csv.reader(io.StringIO(text.lstrip("\ufeff"))):
        if not row or not row[0].strip() or row[0].strip().lower() in {"identifier", "sample"}:
            continue
        identifiers.append(row[0].strip())
    return identifiers


@transaction.atomic
def shipment_receive(*, actor: Actor, shipment: Shipment, received: str) -> Shipment:
    """Record what the destination received (its list) and reconcile it with what was sent.

    Listed samples are shipped (at the destination); samples sent but not listed are missing;
    listed identifiers that were not in the shipment are kept as unexpected.
    """
    study = shipment.study
    require_samples(actor, study)
    shipment = Shipment.objects.select_for_update().get(pk=shipment.pk)
    if shipment.status != ShipmentStatus.SENT:
        raise ValidationError(
            _("shipment %(reference)s: it is %(status)s, not sent.")
            % {"reference": shipment.reference, "status": shipment.status}
        )
    listed = _identifiers_from_text(received)
    if not listed:
        raise ValidationError(_("received: list the identifiers the destination received."))
    items = list(ShipmentItem.objects.filter(shipment=shipment).select_related("sample"))
    by_identifier = {item.sample.identifier: item for item in items}
    listed_set = set(listed)
    unexpected = sorted(listed_set - set(by_identifier))
    arrived = [item for item in items if item.sample.identifier in listed_set]
    missing = [item for item in items if item.sample.identifier not in listed_set]
    now = utc_now()
    ShipmentItem.objects.filter(pk__in=[i.pk for i in arrived]).update(received=True)
    ShipmentItem.objects.filter(pk__in=[i.pk for i in missing]).update(received=False)
    Sample.objects.filter(pk__in=[i.sample_id for i in arrived]).update(
        status=SampleStatus.SHIPPED, updated_at=now
    )
    Sample.objects.filter(pk__in=[i.sample_id for i in missing]).update(
        status=SampleStatus.MISSING, updated_at=now
    )
    shipment.status = ShipmentStatus.RECEIVED
    shipment.received_at = now
    shipment.received_by = actor_label(actor)
    shipment.unexpected = unexpected
    shipment.save(update_fields=["status", "received_at", "received_by", "unexpected"])
    entries = [
        AuditEntry(
            action="biobank.shipment_received",
            target=shipment,
            new={
                "received": len(arrived),
                "missing": [i.sample.identifier for i in missing],
                "unexpected": unexpected,
            },
        )
    ]
    entries += [
        AuditEntry(
            action="biobank.sample_received" if item in arrived else "biobank.sample_missing",
            target=item.sample,
            old={"status": item.sample.status},
            new={
                "status": SampleStatus.SHIPPED if item in arrived else SampleStatus.MISSING,
                "shipment": shipment.reference,
            },
        )
        for item in items
    ]
    audit_record_many(actor=actor, entries=entries, chain=study.audit_chain)
    return shipment


# --- reads: the manifest and the discrepancies ----------------------------------------------------

MANIFEST_COLUMNS = (
    "shipment",
    "destination",
    "identifier",
    "parent",
    "subject",
    "site",
    "event",
    "sample_type",
    "container",
    "volume",
    "unit",
    "collected_at",
    "sprec",
)


@dataclass(frozen=True)
class Discrepancies:
    missing: list[str]
    unexpected: list[str]
    received: int


def shipments_of_study(actor: User, study: Study) -> list[Shipment]:
    """Return the study's shipments (those who manage its samples somewhere)."""
    if site_scope(actor, Action.MANAGE_SAMPLES, study=study).empty:
        raise PermissionDenied(_("You may not manage this study's samples."))
    return list(
        Shipment.objects.filter(study=study, environment=environment_written(study))
        .select_related("destination", "agreement", "request")
        .order_by("-prepared_at", "-pk")[:500]
    )


def shipment_of_study(actor: User | None, study: Study, reference: str) -> Shipment:
    """Return one shipment of the study by reference; unknown and forbidden are the same."""
    if actor is not None and site_scope(actor, Action.MANAGE_SAMPLES, study=study).empty:
        raise PermissionDenied(_("No such shipment."))
    found = (
        Shipment.objects.filter(study=study, reference=reference)
        .select_related("destination", "agreement", "request", "study")
        .first()
    )
    if found is None:
        raise PermissionDenied(_("No such shipment."))
    return found


def manifest_rows(shipment: Shipment) -> list[dict[str, str]]:
    """Return the shipment's manifest, one row per sample (one query, plain values)."""
    rows = []
    received_words = {None: "", True: "yes", False: "no"}
    for (
        identifier,
        parent,
        subject,
        site,
        event,
        sample_type,
        container,
        volume,
        unit,
        collected_at,
        sprec,
        received,
    ) in (
        ShipmentItem.objects.filter(shipment=shipment)
        .order_by("sample__identifier")
        .values_list(
            "sample__identifier",
            "sample__parent__identifier",
            "sample__subject__identifier",
            "sample__site__code",
            "sample__event",
            "sample__sample_type",
            "sample__container",
            "sample__volume",
            "sample__unit",
            "sample__collected_at",
            "sample__sprec",
            "received",
        )
    ):
        rows.append(
            {
                "shipment": shipment.reference,
                "destination": shipment.destination.code,
                "identifier": identifier,
                "parent": parent or "",
                "subject": subject,
                "site": site,
                "event": event,
                "sample_type": sample_type,
                "container": container,
                "volume": "" if volume is None else format(volume.normalize(), "f"),
                "unit": unit,
                "collected_at": collected_at.isoformat() if collected_at else "",
                "sprec": sprec,
                "received": received_words[received],
            }
        )
    return rows


def manifest_csv(shipment: Shipment) -> str:
    """Return the manifest as CSV (the columns docs/biobank-exchange.md lists)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=MANIFEST_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(manifest_rows(shipment))
    return out.getvalue()


def manifest_html(shipment: Shipment) -> str:
    """Return the manifest as one standalone HTML page (what the PDF prints)."""
    return render_to_string(
        "biobank/exchange/manifest_pdf.html",
        {"shipment": shipment, "rows": manifest_rows(shipment)},
    )


def manifest_pdf(shipment: Shipment) -> bytes:
    """Return the manifest as a PDF; `PdfUnavailable` where Pango is missing."""
    return html_to_pdf(manifest_html(shipment))


def discrepancies(shipment: Shipment) -> Discrepancies:
    """Return what the destination did not receive, and what it received unexpectedly."""
    items = ShipmentItem.objects.filter(shipment=shipment)
    return Discrepancies(
        missing=list(
            items.filter(received=False)
            .order_by("sample__identifier")
            .values_list("sample__identifier", flat=True)
        ),
        unexpected=list(shipment.unexpected),
        received=items.filter(received=True).count(),
    )
