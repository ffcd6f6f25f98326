"""Aliquots and derivatives: a sample divided into tubes of the same material, or processed
into another (DNA extracted from blood, FFPE blocks cut from a tumour, slides from a block).

Children take their parent's identifier and a suffix: "-A01", "-A02"… for aliquots, "-D01"
for derivatives, "-B01" for FFPE blocks and "-S01" for slides, numbered after the children the
parent already has. The children's volumes together never exceed what remains of the parent:
the parent's volume decreases by what was taken, and a parent used up is consumed (and leaves
its box).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal, InvalidOperation

from django.db import transaction
from django.utils.translation import gettext as _

from carnet.accounts.permissions import Actor
from carnet.audit.services import AuditEntry, audit_record_many
from carnet.biobank.models import Sample, SamplePosition, SampleStatus
from carnet.biobank.storage import actor_label, position_release, require_samples
from carnet.core.clock import utc_now
from carnet.core.errors import ValidationError

MAX_CHILDREN = 99  # two digits in the suffix
# Derivative types with a suffix of their own (any other derivative is "-D").
SUFFIXES = {"tumour_ffpe": "B", "ffpe_block": "B", "slide": "S"}
# A parent in any other status is not in hand.
IN_HAND = frozenset({SampleStatus.COLLECTED, SampleStatus.STORED})


def _decimal(value: object, field: str) -> Decimal:
    try:
        number = Decimal(str(value).strip().replace(",", "."))
    except (InvalidOperation, ValueError):
        raise ValidationError(
            _("%(field)s: '%(value)s' is not a number.") % {"field": field, "value": value}
        ) from None
    if not number.is_finite() or number <= 0:
        raise ValidationError(_("%(field)s: give a volume above 0.") % {"field": field})
    return number.quantize(Decimal("0.001"))


def _suffix(kind: str, sample_type: str) -> str:
    return "A" if kind == "aliquot" else SUFFIXES.get(sample_type, "D")


def _identifiers(parent: Sample, letter: str, count: int, given: list[str] | None) -> list[str]:
    """Return the children's identifiers: the ones given (pre-printed labels), or the parent's
    with the next free suffixes."""
    if given is not None:
        identifiers = [identifier.strip() for identifier in given]
        if len(identifiers) != count:
            raise ValidationError(
                _("identifiers: give %(count)s identifiers, one per tube.") % {"count": count}
            )
        for index, identifier in enumerate(identifiers, start=1):
            if not identifier or len(identifier) > 40:
                raise ValidationError(
                    _("identifiers, tube %(index)s: give an identifier of 1 to 40 characters.")
                    % {"index": index}
                )
    else:
        prefix = f"{parent.identifier}-{letter}"
        used = {
            int(identifier[len(prefix) :])
            for identifier in Sample.objects.filter(identifier__startswith=prefix).values_list(
                "identifier", flat=True
            )
            if identifier[len(prefix) :].isdigit()
        }
        start = max(used, default=0) + 1
        if start + count - 1 > MAX_CHILDREN:
            raise ValidationError(
                _("Sample %(sample)s would have more than %(max)s children of this kind.")
                % {"sample": parent.identifier, "max": MAX_CHILDREN}
            )
        identifiers = [f"{prefix}{number:02d}" for number in range(start, start + count)]
        if len(identifiers[-1]) > 40:
            raise ValidationError(
                _("The identifier %(identifier)s would be longer than 40 characters.")
                % {"identifier": identifiers[-1]}
            )
    repeated = {identifier for identifier in identifiers if identifiers.count(identifier) > 1}
    if repeated:
        raise ValidationError(
            _("identifiers: %(identifier)s is given twice.") % {"identifier": sorted(repeated)[0]}
        )
    existing = list(
        Sample.objects.filter(identifier__in=identifiers).values_list("identifier", flat=True)
    )
    if existing:
        raise ValidationError(
            _("identifiers: a sample %(identifier)s already exists; identifiers are unique.")
            % {"identifier": sorted(existing)[0]}
        )
    return identifiers


@transaction.atomic
def sample_aliquot(
    *,
    actor: Actor,
    sample: Sample,
    volumes: Sequence[Decimal | str | float],
    container: str = "",
    identifiers: list[str] | None = None,
) -> list[Sample]:
    """Divide a sample into tubes of the given volumes (in the parent's unit), all or none."""
    if not volumes:
        raise ValidationError(_("volumes: give the volume of each tube."))
    if len(volumes) > MAX_CHILDREN:
        raise ValidationError(_("volumes: at most %(max)s tubes.") % {"max": MAX_CHILDREN})
    amounts = [
        _decimal(volume, f"volumes, tube {index}") for index, volume in enumerate(volumes, 1)
    ]
    return _divide(
        actor=actor,
        sample=sample,
        kind="aliquot",
        sample_type=None,
        amounts=amounts,
        taken=sum(amounts, Decimal(0)),
        unit=None,
        container=container,
        identifiers=identifiers,
    )


@transaction.atomic
def sample_derive(
    *,
    actor: Actor,
    sample: Sample,
    sample_type: str,
    count: int = 1,
    volume_used: Decimal | str | float | None = None,
    quantity: Decimal | str | float | None = None,
    unit: str = "",
    container: str = "",
    identifiers: list[str] | None = None,
) -> list[Sample]:
    """Make ``count`` derivatives of another type from a sample (DNA, FFPE blocks, slides),
    using ``volume_used`` of the parent (in its unit) if given; each derivative holds
    ``quantity`` ``unit`` (µg of DNA, 1 block…)."""
    sample_type = (sample_type or "").strip()
    if not sample_type or len(sample_type) > 40:
        raise ValidationError(_("sample_type: give the derivative's type (dna, slide…)."))
    if not 1 <= count <= MAX_CHILDREN:
        raise ValidationError(
            _("count: make between 1 and %(max)s derivatives.") % {"max": MAX_CHILDREN}
        )
    taken = _decimal(volume_used, "volume_used") if volume_used not in (None, "") else None
    amount = _decimal(quantity, "quantity") if quantity not in (None, "") else None
    return _divide(
        actor=actor,
        sample=sample,
        kind="derivative",
        sample_type=sample_type,
        amounts=[amount] * count,
        taken=taken,
        unit=unit.strip()[:10],
        container=container,
        identifiers=identifiers,
    )


def _divide(
    *,
    actor: Actor,
    sample: Sample,
    kind: str,
    sample_type: str | None,
    amounts: Sequence[Decimal | None],
    taken: Decimal | None,
    unit: str | None,
    container: str,
    identifiers: list[str] | None,
) -> list[Sample]:
    # The parent's row is locked: two technicians aliquoting the same tube at once cannot
    # together take more than it holds.
    parent = Sample.objects.select_for_update().select_related("study").get(pk=sample.pk)
    require_samples(actor, parent.study, parent.site_id)
    if parent.status not in IN_HAND:
        raise ValidationError(
            _("Sample %(sample)s is %(status)s: it cannot be divided.")
            % {"sample": parent.identifier, "status": parent.status}
        )
    remaining = parent.volume
    if taken is not None:
        if remaining is None:
            raise ValidationError(
                _("Sample %(sample)s has no recorded volume: record it before dividing it.")
                % {"sample": parent.identifier}
            )
        if taken > remaining:
            raise ValidationError(
                _(
                    "The tubes take %(taken)s %(unit)s but sample %(sample)s holds only "
                    "%(remaining)s %(unit)s. Nothing was divided."
                )
                % {
                    "taken": taken.normalize(),
                    "remaining": remaining.normalize(),
                    "unit": parent.unit,
                    "sample": parent.identifier,
                }
            )
    child_type = sample_type or parent.sample_type
    names = _identifiers(parent, _suffix(kind, child_type), len(amounts), identifiers)
    now, who = utc_now(), actor_label(actor)
    children = [
        Sample(
            study=parent.study,
            environment=parent.environment,
            subject_id=parent.subject_id,
            site_id=parent.site_id,
            identifier=identifier,
            parent=parent,
            expected_code=parent.expected_code,
            event=parent.event,
            occurrence=parent.occurrence,
            sample_type=child_type,
            container=(container or parent.container).strip()[:40],
            volume=amount,
            unit=parent.unit if unit is None else unit,
            status=SampleStatus.COLLECTED,
            collected_at=parent.collected_at,
            collected_by=parent.collected_by,
            sprec=parent.sprec if kind == "aliquot" else "",
            created_at=now,
            created_by=who,
            updated_at=now,
        )
        for identifier, amount in zip(names, amounts, strict=True)
    ]
    Sample.objects.bulk_create(children)
    children = list(Sample.objects.filter(identifier__in=names).order_by("identifier"))
    old = {"volume": parent.volume, "status": parent.status}
    if taken is not None and remaining is not None:
        parent.volume = remaining - taken
    consumed = parent.volume is not None and parent.volume == 0
    position = SamplePosition.objects.select_related("box__rack__freezer").filter(sample=parent)
    if consumed and position.exists():
        # A tube used up leaves its box: its position is free for another.
        position_release(actor, parent, position.get(), _("used up by aliquoting"))
    if consumed:
        parent.status = SampleStatus.CONSUMED
    parent.updated_at = now
    parent.save(update_fields=["volume", "status", "updated_at"])
    entries = [
        AuditEntry(
            action=f"biobank.sample_{kind}",
            target=parent,
            old=old,
            new={
                "volume": parent.volume,
                "status": parent.status,
                "children": [child.identifier for child in children],
            },
        )
    ]
    entries += [
        AuditEntry(
            action="biobank.sample_create",
            target=child,
            new={
                "identifier": child.identifier,
                "parent": parent.identifier,
                "sample_type": child.sample_type,
                "volume": child.volume,
                "unit": child.unit,
            },
        )
        for child in children
    ]
    audit_record_many(actor=actor, entries=entries, chain=parent.study.audit_chain)
    return children
