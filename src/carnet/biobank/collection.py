"""Collection and pre-analytics: record a sample the protocol expects at a visit, then its
processing steps with their times; each write recomputes the sample's SPREC code and its
deviations from the protocol's conditions, and is an audit event of the study's chain."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Context, Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from carnet.accounts.models import User
from carnet.accounts.permissions import Actor, PermissionDenied
from carnet.audit.services import AuditEntry, audit_record, audit_record_many
from carnet.biobank import sprec
from carnet.biobank.expected import definition_of
from carnet.biobank.models import (
    Haemolysis,
    Held,
    ProcessingStep,
    Sample,
    SampleCollection,
    SampleStatus,
    StepKind,
)
from carnet.biobank.selectors import SAMPLE_WRITERS, sample_scope
from carnet.core.clock import utc_now
from carnet.core.errors import ValidationError
from carnet.studies.definition.model import ExpectedSample
from carnet.subjects.models import Subject

IDENTIFIER_LENGTH = 40


def _label(actor: Actor) -> str:
    if isinstance(actor, User):
        return actor.display_name()
    return str(getattr(actor, "label", "system"))


def _require_writer(actor: Actor, subject: Subject) -> None:
    if not isinstance(actor, User):
        return  # a command run on the server acts for the installation
    scope = sample_scope(actor, study=subject.study, actions=SAMPLE_WRITERS)
    if not scope.allows(subject.site_id):
        raise PermissionDenied(
            _("You may not record samples at site %(site)s.") % {"site": subject.site.code}
        )


def expected_for(subject: Subject, event: str, code: str) -> ExpectedSample:
    """Return the sample ``code`` the protocol expects at ``event``, or refuse naming both."""
    definition = definition_of(subject.study)
    found = definition.event(event) if definition else None
    if found is None:
        raise ValidationError(_("event: there is no event '%(event)s'.") % {"event": event})
    expected = found.sample(code)
    if expected is None:
        raise ValidationError(
            _("code: the event '%(event)s' expects no sample '%(code)s'.")
            % {"event": event, "code": code}
        )
    return expected


def _identifier(subject: Subject, code: str, number: int) -> str:
    """Return ``<STUDY>-<subject>-<CODE>-<n>``, the code shortened to fit the label's 40."""
    head, tail = f"{subject.study.identifier}-{subject.identifier}-", f"-{number}"
    room = IDENTIFIER_LENGTH - len(head) - len(tail)
    if room < 3:
        raise ValidationError(_("The study and subject identifiers are too long for a label."))
    return head + code.upper()[:room] + tail


def _record(sample: Sample) -> dict[str, Any]:
    collection = getattr(sample, "collection", None)
    return {
        "identifier": sample.identifier,
        "subject": sample.subject.identifier,
        "event": sample.event,
        "occurrence": sample.occurrence,
        "code": sample.expected_code,
        "type": sample.sample_type,
        "container": sample.container,
        "volume": sample.volume,
        "unit": sample.unit,
        "collected_at": sample.collected_at,
        "collected_by": sample.collected_by,
        "site": sample.site.code,
        "sprec": sample.sprec,
        "quality": sample.quality,
        "deviations": collection.deviations if collection else [],
    }


@transaction.atomic
def sample_collect(
    *,
    actor: Actor,
    subject: Subject,
    event: str,
    occurrence: int = 1,
    code: str,
    collected_at: datetime,
    collector: str = "",
    volume: Decimal | None = None,
    container: str = "",
    held: str = Held.ROOM,
    collection_method: str = "",
    warm_ischaemia_minutes: int | None = None,
    haemolysis: str = "",
    volume_sufficient: bool | None = None,
    comment: str = "",
) -> Sample:
    """Record the collection of a sample the protocol expects at a visit, with its unique
    identifier; type, container and unit default to the protocol's."""
    _require_writer(actor, subject)
    expected = expected_for(subject, event, code)
    if collected_at > utc_now():
        raise ValidationError(_("collected_at: the collection cannot be in the future."))
    if occurrence < 1:
        raise ValidationError(_("occurrence: give 1 or more."))
    if held not in Held.values:
        raise ValidationError(_("held: choose room or cold."))
    if haemolysis and haemolysis not in Haemolysis.values:
        raise ValidationError(_("haemolysis: choose none, slight, moderate or severe."))
    if expected.tissue and collection_method not in sprec.COLLECTION_METHODS:
        raise ValidationError(
            _("collection_method: choose one of %(methods)s.")
            % {"methods": ", ".join(sprec.COLLECTION_METHODS)}
        )
    if volume is not None and volume <= 0:
        raise ValidationError(_("volume: give a volume above 0."))
    # One collection at a time per subject: the number after the code stays unique.
    Subject.objects.select_for_update().filter(pk=subject.pk).first()
    number = Sample.objects.filter(subject=subject, expected_code=code).count() + 1
    now = utc_now()
    sample = Sample(
        study=subject.study,
        environment=subject.environment,
        subject=subject,
        site=subject.site,
        identifier=_identifier(subject, code, number),
        expected_code=code,
        event=event,
        occurrence=occurrence,
        sample_type=expected.type,
        container=container or expected.container,
        volume=volume,
        unit=expected.unit,
        status=SampleStatus.COLLECTED,
        collected_at=collected_at,
        collected_by=collector or _label(actor),
        created_at=now,
        created_by=_label(actor),
        updated_at=now,
    )
    try:
        with transaction.atomic():
            sample.save()
    except IntegrityError as error:
        raise ValidationError(
            _("identifier: %(identifier)s is already taken.") % {"identifier": sample.identifier}
        ) from error
    sample.collection = SampleCollection.objects.create(
        sample=sample,
        collection_method=collection_method,
        warm_ischaemia_minutes=warm_ischaemia_minutes,
        held=held,
        haemolysis=haemolysis,
        volume_sufficient=volume_sufficient,
        comment=comment,
    )
    _recompute(sample, expected)
    audit_record(
        actor=actor,
        action="biobank.sample_collected",
        target=sample,
        new=_record(sample),
        chain=subject.study.audit_chain,
    )
    return sample


@transaction.atomic
def sample_process(
    *,
    actor: Actor,
    sample: Sample,
    kind: str,
    started_at: datetime,
    ended_at: datetime | None = None,
    temperature: Decimal | None = None,
    force_g: int | None = None,
    braking: bool = True,
    held: str = Held.ROOM,
    fixative: str = "",
    reason: str = "",
) -> ProcessingStep:
    """Record (or correct, with a reason) one processing step of a sample; its SPREC code and
    deviations follow."""
    _require_writer(actor, sample.subject)
    expected = expected_for(sample.subject, sample.event, sample.expected_code)
    _check_step(expected, kind, started_at, ended_at, force_g, held, fixative)
    if sample.collected_at and started_at < sample.collected_at:
        raise ValidationError(_("started_at: a step cannot start before the collection."))
    step = ProcessingStep.objects.filter(sample=sample, kind=kind).first()
    old = _step_record(step) if step else None
    if step is not None and not reason.strip():
        raise ValidationError(
            _("reason: the %(kind)s is already recorded; give a reason to correct it.")
            % {"kind": StepKind(kind).label}
        )
    step = step or ProcessingStep(sample=sample, kind=kind)
    step.started_at, step.ended_at = started_at, ended_at
    step.temperature, step.force_g, step.braking = temperature, force_g, braking
    step.held, step.fixative = held, fixative
    step.recorded_at, step.recorded_by = utc_now(), _label(actor)
    step.save()
    _recompute(sample, expected)
    audit_record(
        actor=actor,
        action="biobank.sample_processed",
        target=sample,
        old=old,
        new={**_step_record(step), "sprec": sample.sprec, "deviations": _deviations(sample)},
        reason=reason,
        chain=sample.study.audit_chain,
    )
    return step


@dataclass(frozen=True)
class Step:
    """One processing step to record, as `sample_process` takes it."""

    kind: str
    started_at: datetime
    ended_at: datetime | None = None
    temperature: Decimal | None = None
    force_g: int | None = None
    braking: bool = True
    held: str = Held.ROOM
    fixative: str = ""
    reason: str = ""


@transaction.atomic
def sample_process_many(
    *, actor: Actor, sample: Sample, steps: Sequence[Step]
) -> list[ProcessingStep]:
    """Record (or correct, with a reason) several processing steps of a sample, in order, as
    `sample_process` would one after another: the same checks per step, the same steps and one
    audit event per step with the SPREC code and deviations as they stood after it; all or
    nothing.

    The steps already recorded are read once and the code recomputed in memory after each
    step: a tube's three steps cost a handful of statements, not thirty."""
    if not steps:
        return []
    _require_writer(actor, sample.subject)
    expected = expected_for(sample.subject, sample.event, sample.expected_code)
    recorded = {step.kind: step for step in ProcessingStep.objects.filter(sample=sample)}
    label = _label(actor)
    written: list[ProcessingStep] = []
    entries: list[AuditEntry] = []
    for given in steps:
        _check_step(
            expected, given.kind, given.started_at, given.ended_at, given.force_g, given.held,
            given.fixative,
        )  # fmt: skip
        if sample.collected_at and given.started_at < sample.collected_at:
            raise ValidationError(_("started_at: a step cannot start before the collection."))
        step = recorded.get(given.kind)
        old = _step_record(step) if step else None
        if step is not None and not given.reason.strip():
            raise ValidationError(
                _("reason: the %(kind)s is already recorded; give a reason to correct it.")
                % {"kind": StepKind(given.kind).label}
            )
        # A step corrected twice in the batch is one row, as one at a time.
        step = step or ProcessingStep(sample=sample, kind=given.kind)
        step.started_at, step.ended_at = given.started_at, given.ended_at
        step.temperature, step.force_g, step.braking = (
            given.temperature,
            given.force_g,
            given.braking,
        )
        step.held, step.fixative = given.held, given.fixative
        step.recorded_at, step.recorded_by = utc_now(), label
        recorded[given.kind] = step
        if all(step is not other for other in written):
            written.append(step)
        new = _step_record(step)  # as given, as `sample_process` records it
        # As the database gives it back: one at a time, the code is computed from the stored
        # steps, and a step corrected again shows its stored values as the old ones.
        _as_stored(step)
        _compute(sample, expected, recorded)
        entries.append(
            AuditEntry(
                action="biobank.sample_processed",
                target=sample,
                old=old,
                new={
                    **new,
                    "sprec": sample.sprec,
                    "deviations": _deviations(sample),
                },
                reason=given.reason,
            )
        )
    for step in written:
        if step.pk is not None:  # a correction
            step.save()
    ProcessingStep.objects.bulk_create([step for step in written if step.pk is None])
    sample.collection.save(update_fields=["deviations"])
    sample.updated_at = utc_now()
    sample.save(update_fields=["sprec", "quality", "updated_at"])
    audit_record_many(actor=actor, entries=entries, chain=sample.study.audit_chain)
    return [recorded[given.kind] for given in steps]


def _as_stored(step: ProcessingStep) -> None:
    """Give the step's temperature and times the form the database returns: the temperature
    to the field's decimal places, the times in UTC."""
    field = ProcessingStep._meta.get_field("temperature")
    if step.temperature is not None:
        step.temperature = Decimal(step.temperature).quantize(
            Decimal(1).scaleb(-field.decimal_places), context=Context(prec=field.max_digits)
        )
    step.started_at = step.started_at.astimezone(UTC)
    if step.ended_at is not None:
        step.ended_at = step.ended_at.astimezone(UTC)


def _check_step(
    expected: ExpectedSample,
    kind: str,
    started_at: datetime,
    ended_at: datetime | None,
    force_g: int | None,
    held: str,
    fixative: str,
) -> None:
    if kind not in StepKind.values:
        raise ValidationError(
            _("kind: choose one of %(kinds)s.") % {"kinds": ", ".join(StepKind.values)}
        )
    spins = {StepKind.CENTRIFUGATION, StepKind.SECOND_CENTRIFUGATION}
    if expected.tissue and kind in spins:
        raise ValidationError(_("kind: a tissue is not centrifuged."))
    if not expected.tissue and kind == StepKind.FIXATION:
        raise ValidationError(_("kind: a fluid is not fixed."))
    if kind == StepKind.FIXATION and fixative not in sprec.FIXATIVES:
        raise ValidationError(
            _("fixative: choose one of %(fixatives)s.") % {"fixatives": ", ".join(sprec.FIXATIVES)}
        )
    if ended_at is not None and ended_at < started_at:
        raise ValidationError(_("ended_at: the step cannot end before it starts."))
    if kind in spins and (ended_at is None or force_g is None):
        raise ValidationError(_("A centrifugation needs its end time and its force (g)."))
    if held not in Held.values:
        raise ValidationError(_("held: choose room or cold."))


def _step_record(step: ProcessingStep) -> dict[str, Any]:
    return {
        "kind": step.kind,
        "started_at": step.started_at,
        "ended_at": step.ended_at,
        "temperature": step.temperature,
        "force_g": step.force_g,
        "braking": step.braking,
        "held": step.held,
        "fixative": step.fixative,
    }


def _deviations(sample: Sample) -> list[dict[str, str]]:
    return list(sample.collection.deviations)


def _float(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def _spin(step: ProcessingStep | None) -> sprec.Spin | None:
    if step is None:
        return None
    return sprec.Spin(
        step.started_at, step.ended_at, step.force_g, _float(step.temperature), step.braking
    )


def _recompute(sample: Sample, expected: ExpectedSample) -> None:
    """Compute the sample's SPREC code, deviations and quality summary from what is recorded."""
    _compute(
        sample, expected, {step.kind: step for step in ProcessingStep.objects.filter(sample=sample)}
    )
    sample.collection.save(update_fields=["deviations"])
    sample.updated_at = utc_now()
    sample.save(update_fields=["sprec", "quality", "updated_at"])


def _compute(sample: Sample, expected: ExpectedSample, steps: dict[str, ProcessingStep]) -> None:
    """Set the sample's SPREC code, deviations and quality summary (in memory) from ``steps``."""
    collection = sample.collection
    freezing = steps.get(StepKind.FREEZING)
    if expected.tissue:
        fixation = steps.get(StepKind.FIXATION) or freezing
        sample.sprec = sprec.tissue_sprec(
            sprec.TissueRecord(
                collection_method=collection.collection_method,
                collected_at=sample.collected_at,
                warm_ischaemia_minutes=collection.warm_ischaemia_minutes,
                fixative=fixation.fixative
                if fixation and fixation.fixative
                else ("snap_frozen" if freezing else ""),
                fixation_started_at=fixation.started_at if fixation else None,
                fixation_ended_at=fixation.ended_at if fixation else None,
                storage_temperature=_float(freezing.temperature) if freezing else None,
            )
        )
    else:
        first = steps.get(StepKind.CENTRIFUGATION)
        sample.sprec = sprec.fluid_sprec(
            sprec.FluidRecord(
                sample_type=sample.sample_type,
                container=sample.container,
                collected_at=sample.collected_at,
                held_cold=(first.held if first else collection.held) == Held.COLD,
                first=_spin(first),
                second=_spin(steps.get(StepKind.SECOND_CENTRIFUGATION)),
                post_held_cold=bool(freezing and freezing.held == Held.COLD),
                frozen_at=freezing.started_at if freezing else None,
                storage_temperature=_float(freezing.temperature) if freezing else None,
            )
        )
    collection.deviations = deviations_of(sample, expected, steps)
    sample.quality = _quality(collection)


def _quality(collection: SampleCollection) -> str:
    parts = []
    if collection.deviations:
        parts.append("deviation")
    if collection.haemolysis and collection.haemolysis != Haemolysis.NONE:
        parts.append(f"haemolysis {collection.haemolysis}")
    if collection.volume_sufficient is False:
        parts.append("volume insufficient")
    return ", ".join(parts) or "conform"


# --- deviations from the protocol's conditions --------------------------------------------------

# Tolerances of a recorded condition against the protocol's.
TEMPERATURE_TOLERANCE = 2.0  # °C, centrifuge
FORCE_TOLERANCE = 0.10  # share of the protocol's g
DURATION_TOLERANCE = 2.0  # minutes of the spin
STORAGE_TOLERANCE = 10.0  # °C: stored at -70 for -80 is fine, at -20 is not


def _minutes(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return (end - start).total_seconds() / 60


def deviations_of(
    sample: Sample, expected: ExpectedSample, steps: dict[str, ProcessingStep]
) -> list[dict[str, Any]]:
    """Return the protocol's conditions the recorded collection and processing do not meet,
    each as {"code", "actual", "expected"} (`deviation_text` says it in the reader's language)."""
    found: list[dict[str, Any]] = []

    def flag(code: str, actual: Any, wanted: Any) -> None:
        found.append({"code": code, "actual": actual, "expected": wanted})

    rules = expected.processing
    collected = sample.collected_at
    first = steps.get(StepKind.CENTRIFUGATION)
    freezing = steps.get(StepKind.FREEZING)
    if (
        expected.volume is not None
        and sample.volume is not None
        and float(sample.volume) < expected.volume
    ):
        flag("volume", float(sample.volume), expected.volume)
    if first is not None:
        delay = _minutes(collected, first.started_at)
        if rules.centrifuge_within_minutes and delay and delay > rules.centrifuge_within_minutes:
            flag("centrifuge_delay", round(delay), rules.centrifuge_within_minutes)
        for step in (first, steps.get(StepKind.SECOND_CENTRIFUGATION)):
            if step is not None:
                _spin_deviations(step, expected, flag)
    if rules.second_centrifugation and freezing and StepKind.SECOND_CENTRIFUGATION not in steps:
        flag("second_centrifugation", False, True)
    if rules.centrifuge_within_minutes and freezing and first is None:
        flag("not_centrifuged", False, True)
    if freezing is not None:
        delay = _minutes(collected, freezing.started_at)
        if rules.freeze_within_minutes and delay and delay > rules.freeze_within_minutes:
            flag("freeze_delay", round(delay), rules.freeze_within_minutes)
        if (
            expected.storage is not None
            and freezing.temperature is not None
            and abs(float(freezing.temperature) - expected.storage) > STORAGE_TOLERANCE
        ):
            flag("storage", float(freezing.temperature), expected.storage)
    _fixation_deviations(sample, expected, steps.get(StepKind.FIXATION) or freezing, flag)
    return found


def _spin_deviations(step: ProcessingStep, expected: ExpectedSample, flag: Any) -> None:
    rules = expected.processing
    if (
        rules.centrifuge_temperature is not None
        and step.temperature is not None
        and abs(float(step.temperature) - rules.centrifuge_temperature) > TEMPERATURE_TOLERANCE
    ):
        flag("centrifuge_temperature", float(step.temperature), rules.centrifuge_temperature)
    if (
        rules.centrifuge_g
        and step.force_g
        and abs(step.force_g - rules.centrifuge_g) > FORCE_TOLERANCE * rules.centrifuge_g
    ):
        flag("centrifuge_force", step.force_g, rules.centrifuge_g)
    minutes = _minutes(step.started_at, step.ended_at)
    if (
        rules.centrifuge_minutes
        and minutes is not None
        and abs(minutes - rules.centrifuge_minutes) > DURATION_TOLERANCE
    ):
        flag("centrifuge_duration", round(minutes), rules.centrifuge_minutes)


def _fixation_deviations(
    sample: Sample, expected: ExpectedSample, step: ProcessingStep | None, flag: Any
) -> None:
    if not expected.tissue or step is None:
        return
    rules = expected.processing
    cold = _minutes(sample.collected_at, step.started_at)
    if rules.fix_within_minutes and cold is not None and cold > rules.fix_within_minutes:
        flag("cold_ischaemia", round(cold), rules.fix_within_minutes)
    if rules.fixative and step.fixative and step.fixative != rules.fixative:
        flag("fixative", step.fixative, rules.fixative)
    hours = _minutes(step.started_at, step.ended_at)
    if hours is None or step.kind != StepKind.FIXATION:
        return
    hours /= 60
    if rules.fixation_hours_min is not None and hours < rules.fixation_hours_min:
        flag("fixation_short", round(hours, 1), rules.fixation_hours_min)
    if rules.fixation_hours_max is not None and hours > rules.fixation_hours_max:
        flag("fixation_long", round(hours, 1), rules.fixation_hours_max)


def deviation_text(deviation: dict[str, Any]) -> str:
    """Return a deviation as a sentence in the reader's language."""
    texts = {
        "volume": _("volume %(actual)s below the protocol's %(expected)s"),
        "centrifuge_delay": _(
            "centrifuged %(actual)s minutes after collection (protocol: within %(expected)s)"
        ),
        "centrifuge_temperature": _("centrifuged at %(actual)s °C (protocol: %(expected)s °C)"),
        "centrifuge_force": _("centrifuged at %(actual)s g (protocol: %(expected)s g)"),
        "centrifuge_duration": _(
            "centrifuged for %(actual)s minutes (protocol: %(expected)s minutes)"
        ),
        "second_centrifugation": _("frozen without the second centrifugation the protocol asks"),
        "not_centrifuged": _("frozen without the centrifugation the protocol asks"),
        "freeze_delay": _(
            "frozen %(actual)s minutes after collection (protocol: within %(expected)s)"
        ),
        "storage": _("stored at %(actual)s °C (protocol: %(expected)s °C)"),
        "cold_ischaemia": _(
            "fixed or frozen %(actual)s minutes after excision (protocol: within %(expected)s)"
        ),
        "fixative": _("fixed in %(actual)s (protocol: %(expected)s)"),
        "fixation_short": _("fixed for %(actual)s hours (protocol: at least %(expected)s)"),
        "fixation_long": _("fixed for %(actual)s hours (protocol: at most %(expected)s)"),
    }
    text = texts.get(deviation["code"], deviation["code"])
    return text % {"actual": deviation["actual"], "expected": deviation["expected"]}
