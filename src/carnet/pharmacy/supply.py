"""The depot's side of the stock: batches (expiry, QP release), kit lists imported from the
manufacturer's CSV or generated, and relabelling with a new expiry after an extension.

The manufacturer's kit list (CSV, UTF-8, comma-separated) has the columns ``kit``, ``batch``,
``content`` and, optionally, ``expiry`` (ISO date; the batch's expiry when empty). It comes with
its SHA-256 (the ``sha256sum`` line the manufacturer sends beside the file, or the bare hex
digest): a list whose digest differs is refused before it is read. Every line is checked, and a
list with one bad line adds nothing; the error names the line and the column.
"""

from __future__ import annotations

import csv
import io
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from django.db import transaction
from django.utils.translation import gettext as _

from carnet.accounts.permissions import Actor, PermissionDenied
from carnet.audit.services import audit_record
from carnet.core.clock import utc_now
from carnet.core.errors import ValidationError
from carnet.core.hashing import sha256_hex
from carnet.pharmacy.access import pharmacist_require, supply_require
from carnet.pharmacy.ledger import kit_record, movements_record
from carnet.pharmacy.models import Batch, Kit, KitStatus, StockMovement
from carnet.pharmacy.plan import PharmacyPlan, pharmacy_plan
from carnet.studies.models import Study
from carnet.subjects.environments import environment_written

KIT_COLUMNS = ("kit", "batch", "content")
OPTIONAL_COLUMNS = ("expiry",)
KIT_NUMBER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,39}$")
SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")
# Kits whose expiry may still change: they have not left the pharmacy's hands.
RELABELLABLE = (
    KitStatus.AT_DEPOT,
    KitStatus.IN_TRANSIT,
    KitStatus.AVAILABLE,
    KitStatus.QUARANTINED,
)


def kit_plan(study: Study) -> PharmacyPlan:
    """Return the study's pharmacy plan in kit mode, or refuse."""
    plan = pharmacy_plan(study)
    if plan is None or not plan.kits:
        raise ValidationError(
            _("%(study)s has no kits: its design has no pharmacy in kits mode.")
            % {"study": study.identifier}
        )
    return plan


def _date(text: str, where: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise ValidationError(
            _("%(where)s: %(value)r is not a date (YYYY-MM-DD).") % {"where": where, "value": text}
        ) from None


# --- batches -------------------------------------------------------------------------------------


@transaction.atomic
def batch_create(
    *,
    actor: Actor,
    study: Study,
    product: str,
    number: str,
    expiry: date,
    released_on: date | None = None,
) -> Batch:
    """Record a manufacturer's batch of one of the study's products (audited)."""
    supply_require(actor, study)
    plan = kit_plan(study)
    if product not in plan.product_codes():
        raise ValidationError(
            _("product: %(value)r is not a product of the study (%(known)s).")
            % {"value": product, "known": ", ".join(plan.product_codes())}
        )
    number = number.strip()
    if not number or len(number) > 64:
        raise ValidationError(_("number: give the batch number (64 characters at most)."))
    if released_on is not None and released_on > expiry:
        raise ValidationError(_("released_on: a batch is not released after its expiry."))
    environment = environment_written(study)
    if Batch.objects.filter(
        study=study, environment=environment, product=product, number=number
    ).exists():
        raise ValidationError(_("number: the batch %(value)s exists already.") % {"value": number})
    batch = Batch.objects.create(
        study=study,
        environment=environment,
        product=product,
        number=number,
        expiry=expiry,
        released_on=released_on,
        created_at=utc_now(),
    )
    audit_record(
        actor=actor,
        action="pharmacy.batch_created",
        target=batch,
        new={
            "product": product,
            "number": number,
            "expiry": expiry,
            "released_on": released_on,
        },
        chain=study.audit_chain,
    )
    return batch


@transaction.atomic
def batch_release(*, actor: Actor, batch: Batch, released_on: date) -> Batch:
    """Record the qualified person's release of a batch (audited); before it, none of its kits
    is shipped."""
    supply_require(actor, batch.study)
    if released_on > batch.expiry:
        raise ValidationError(_("released_on: a batch is not released after its expiry."))
    old = batch.released_on
    batch.released_on = released_on
    batch.save(update_fields=["released_on"])
    audit_record(
        actor=actor,
        action="pharmacy.batch_released",
        target=batch,
        old={"released_on": old},
        new={"released_on": released_on},
        chain=batch.study.audit_chain,
    )
    return batch


# --- kit lists ----------------------------------------------------------------------------------


def checksum_expected(text: str) -> str:
    """Return the hex digest of a checksum given beside a file: a bare digest or a
    ``sha256sum`` line ("<digest>  <file name>")."""
    parts = text.strip().split()
    if not parts or not SHA256.match(parts[0]):
        raise ValidationError(
            _("the checksum is not a SHA-256 (64 hexadecimal digits, as sha256sum writes it).")
        )
    return parts[0].lower()


def _line_error(line: int, column: str, why: str) -> ValidationError:
    return ValidationError(
        _("line %(line)s, column %(column)s: %(why)s")
        % {"line": line, "column": column, "why": why}
    )


@transaction.atomic
def kits_import(
    *, actor: Actor, study: Study, content: bytes, checksum: str, file_name: str = ""
) -> int:
    """Import the manufacturer's kit list (all lines or none; see the module); return how many
    kits were added. The checksum given beside the file must match it."""
    supply_require(actor, study)
    plan = kit_plan(study)
    digest = sha256_hex(content)
    if digest != checksum_expected(checksum):
        raise ValidationError(
            _(
                "the file's SHA-256 is %(digest)s, not the one given beside it: the file is "
                "damaged or not the manufacturer's; nothing was imported."
            )
            % {"digest": digest}
        )
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationError(_("the file is not UTF-8 text; nothing was imported.")) from None
    reader = csv.DictReader(io.StringIO(text))
    columns = [c.strip() for c in reader.fieldnames or []]
    reader.fieldnames = columns
    missing = [c for c in KIT_COLUMNS if c not in columns]
    if missing:
        raise ValidationError(
            _("line 1: the columns %(columns)s are missing.") % {"columns": ", ".join(missing)}
        )
    unknown = [c for c in columns if c not in KIT_COLUMNS + OPTIONAL_COLUMNS]
    if unknown:
        raise ValidationError(
            _("line 1: the columns %(columns)s are not read (kit, batch, content, expiry).")
            % {"columns": ", ".join(unknown)}
        )
    environment = environment_written(study)
    batches = {b.number: b for b in Batch.objects.filter(study=study, environment=environment)}
    known = set(
        Kit.objects.filter(study=study, environment=environment).values_list("number", flat=True)
    )
    contents = set(plan.contents)
    now = utc_now()
    kits: list[Kit] = []
    for line, row in enumerate(reader, start=2):
        if None in row:
            raise _line_error(line, "-", _("the line has more cells than the header."))
        number = (row["kit"] or "").strip()
        if not KIT_NUMBER.match(number):
            raise _line_error(
                line, "kit", _("a kit number is 1 to 40 letters, digits, '.', '_', '/' or '-'.")
            )
        if number in known:
            raise _line_error(
                line, "kit", _("the kit %(value)s is already in the list.") % {"value": number}
            )
        batch = batches.get((row["batch"] or "").strip())
        if batch is None:
            raise _line_error(
                line,
                "batch",
                _("%(value)r is not a batch of the study: record it first.")
                % {"value": row["batch"] or ""},
            )
        content_value = (row["content"] or "").strip()
        if content_value not in contents:
            # The uploader holds the list already: naming the study's arms tells nothing new.
            raise _line_error(
                line,
                "content",
                _("%(value)r is not an arm of the study (%(arms)s).")
                % {"value": content_value, "arms": ", ".join(plan.contents)},
            )
        expiry = batch.expiry
        if (row.get("expiry") or "").strip():
            expiry = _date(row["expiry"] or "", f"line {line}, column expiry")
            if expiry > batch.expiry:
                raise _line_error(
                    line,
                    "expiry",
                    _("a kit does not expire after its batch (%(expiry)s).")
                    % {"expiry": batch.expiry.isoformat()},
                )
        known.add(number)
        kits.append(_new_kit(study, environment, number, batch, content_value, expiry, plan, now))
    if not kits:
        raise ValidationError(_("the file has no kit; nothing was imported."))
    return _kits_add(
        actor=actor,
        study=study,
        kits=kits,
        how={"file_name": file_name, "file_sha256": digest},
        reason=_("imported from the manufacturer's list %(file)s") % {"file": file_name or "-"},
    )


def _new_kit(
    study: Study,
    environment: str,
    number: str,
    batch: Batch,
    content: str,
    expiry: date,
    plan: PharmacyPlan,
    now: datetime,
) -> Kit:
    product = plan.product(batch.product)
    return Kit(
        study=study,
        environment=environment,
        number=number,
        batch=batch,
        content=content,
        quantity=product.per_kit or 1,
        expiry=expiry,
        status=KitStatus.AT_DEPOT,
        created_at=now,
        updated_at=now,
    )


def _kits_add(
    *, actor: Actor, study: Study, kits: list[Kit], how: dict[str, object], reason: str
) -> int:
    Kit.objects.bulk_create(kits)
    saved = list(
        Kit.objects.filter(
            study=study, environment=kits[0].environment, number__in=[k.number for k in kits]
        ).select_related("batch")
    )
    audit_record(
        actor=actor,
        action="pharmacy.kits_added",
        target=("study", study.identifier),
        # Counts per batch only: counts per content would tell the list's composition.
        new={**how, "kits": len(kits)},
        chain=study.audit_chain,
    )
    movements_record(
        actor=actor,
        study=study,
        kind=StockMovement.Kind.CREATED,
        changes=[(kit, {}) for kit in saved],
        reason=reason,
    )
    return len(kits)


@dataclass(frozen=True)
class GeneratedKit:
    number: str
    batch: str
    content: str
    expiry: date


@transaction.atomic
def kits_generate(
    *, actor: Actor, study: Study, batch: Batch, per_content: int, pattern: str = "K{seq:05}"
) -> list[GeneratedKit]:
    """Create ``per_content`` kits of each of the study's contents (arms) in ``batch``, numbered
    by ``pattern`` (``{seq}`` runs on from the study's kits), and return the list for the
    manufacturer's labels. The contents are shuffled across the numbers with a cryptographic
    generator: numbering by arm would let anyone read the arm from the number."""
    supply_require(actor, study)
    plan = kit_plan(study)
    if batch.study_id != study.pk:
        raise ValidationError(_("batch: not a batch of this study."))
    if not 1 <= per_content <= 10000:
        raise ValidationError(_("per_content: give 1 to 10000 kits per arm."))
    if "{seq" not in pattern:
        raise ValidationError(_("pattern: put {seq} (or {seq:05}) where the number goes."))
    environment = batch.environment
    existing = Kit.objects.filter(study=study, environment=environment)
    known = set(existing.values_list("number", flat=True))
    start = existing.count() + 1
    contents = [content for content in plan.contents for _i in range(per_content)]
    secrets.SystemRandom().shuffle(contents)
    now = utc_now()
    kits = []
    for seq, content in enumerate(contents, start=start):
        try:
            number = pattern.format(seq=seq, study=study.identifier)
        except (KeyError, ValueError, IndexError):
            raise ValidationError(
                _("pattern: %(pattern)r is not a numbering pattern.") % {"pattern": pattern}
            ) from None
        if not KIT_NUMBER.match(number):
            raise ValidationError(
                _("pattern: it gives %(number)r, not a kit number.") % {"number": number}
            )
        if number in known:
            raise ValidationError(
                _("pattern: the kit %(number)s exists already.") % {"number": number}
            )
        known.add(number)
        kits.append(_new_kit(study, environment, number, batch, content, batch.expiry, plan, now))
    _kits_add(
        actor=actor,
        study=study,
        kits=kits,
        how={"generated": True, "batch": batch.number, "pattern": pattern},
        reason=_("generated in batch %(batch)s") % {"batch": batch.number},
    )
    return [GeneratedKit(k.number, batch.number, k.content, k.expiry) for k in kits]


# --- relabelling ----------------------------------------------------------------------------------


@transaction.atomic
def kits_relabel(
    *,
    actor: Actor,
    study: Study,
    expiry: date,
    reason: str,
    numbers: Sequence[str] = (),
    batch: Batch | None = None,
) -> list[Kit]:
    """Give kits (named, or every kit of a batch still in hand) a new expiry after the
    manufacturer's extension, with the reason (a ledger row and an audit event per kit). The
    depot's supply managers relabel anywhere, a site's pharmacist the kits at their site."""
    if not reason.strip():
        raise ValidationError(_("reason: say why (e.g. the manufacturer's extension letter)."))
    environment = environment_written(study)
    kits_query = Kit.objects.select_for_update(of=("self",)).filter(
        study=study, environment=environment
    )
    if batch is not None:
        kits = list(kits_query.filter(batch=batch, status__in=RELABELLABLE).order_by("number"))
        if not kits:
            raise ValidationError(
                _("the batch %(batch)s has no kit left to relabel.") % {"batch": batch.number}
            )
    else:
        wanted = list(dict.fromkeys(n.strip() for n in numbers if n.strip()))
        if not wanted:
            raise ValidationError(_("Name the kits or the batch to relabel."))
        found = {k.number: k for k in kits_query.filter(number__in=wanted)}
        for number in wanted:
            if number not in found:
                raise ValidationError(_("kit %(kit)s: no such kit.") % {"kit": number})
            if found[number].status not in RELABELLABLE:
                raise ValidationError(
                    _("kit %(kit)s: it is %(status)s; only kits in hand are relabelled.")
                    % {"kit": number, "status": found[number].status}
                )
        kits = [found[number] for number in wanted]
    for kit in kits:
        _relabel_require(actor, study, kit)
        if expiry <= kit.expiry:
            raise ValidationError(
                _("kit %(kit)s: the new expiry must come after %(expiry)s.")
                % {"kit": kit.number, "expiry": kit.expiry.isoformat()}
            )
    now = utc_now()
    changes = []
    for kit in kits:
        old = kit_record(kit)
        kit.expiry, kit.updated_at = expiry, now
        kit.save(update_fields=["expiry", "updated_at"])
        changes.append((kit, old))
    movements_record(
        actor=actor,
        study=study,
        kind=StockMovement.Kind.RELABELLED,
        changes=changes,
        reason=reason.strip(),
    )
    return kits


def _relabel_require(actor: Actor, study: Study, kit: Kit) -> None:
    if kit.site is not None:
        try:
            pharmacist_require(actor, study, kit.site)
            return
        except PermissionDenied:  # not the site's pharmacist: the depot's rights decide
            pass
    supply_require(actor, study)
