"""The outage procedure: each site's sealed emergency envelopes, and paper allocations recorded
afterwards.

When Carnet cannot be reached, the site's pharmacy opens the next sealed envelope of the
subject's stratum (its number is the allocation number the site writes down). Once Carnet is back,
the site records the allocation here: the envelope used, when it was opened, who opened it and
why the system was not used. The envelopes come from a backup list per site, generated with the
list generator from its own secret seed and kept apart from the central list: central allocation
never takes an envelope, and the kits put in envelopes are reserved for them.

Refusals never name an arm.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date, datetime

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from carnet.accounts.models import StudySite
from carnet.accounts.roles import Action
from carnet.audit.services import audit_record
from carnet.core.clock import utc_now
from carnet.core.errors import ValidationError
from carnet.core.hashing import sha256_hex
from carnet.randomization.blocks import stratum_list
from carnet.randomization.confirmations import allocation_confirm
from carnet.randomization.kits import kits_in_use, study_blinded
from carnet.randomization.models import (
    Allocation,
    AllocationCounter,
    BackupList,
    Envelope,
    Kit,
    Method,
)
from carnet.randomization.selectors import RandomisationRefused
from carnet.randomization.services import (
    Actor,
    _actor_label,
    _require,
    allocation_counter_lock,
    allocation_moment,
    scheme_current,
    strata_of,
    subject_factors_known,
)
from carnet.studies.definition.model import RandomisationScheme
from carnet.studies.models import Study
from carnet.subjects.environments import environment_written
from carnet.subjects.models import Subject
from carnet.subjects.services import subject_randomisation_date_set

PAPER = "paper"


def backup_block_sizes(scheme: RandomisationScheme) -> tuple[int, ...]:
    """Return the block sizes of a backup list: the scheme's own for blocks; otherwise two and
    three times the ratio's sum (4 and 6 for 1:1), the customary stratified blocks of a paper
    backup for minimisation and simple randomisation."""
    if scheme.method == Method.BLOCKS:
        return tuple(scheme.block_sizes)
    parts = sum(scheme.ratio)
    return (2 * parts, 3 * parts)


def backup_factors(scheme: RandomisationScheme) -> list[str]:
    """Return the factors an envelope's stratum is made of: the scheme's strata or factors
    (simple randomisation has none: one stratum, ``all``)."""
    if scheme.method == Method.SIMPLE:
        return []
    return [factor.name for factor in scheme.factors]


def _site_strata(study: Study, scheme: RandomisationScheme, site: StudySite) -> list[str]:
    """Return the strata of the site's envelopes: every stratum its subjects can fall in."""
    definition = study.current_version.parsed()  # type: ignore[union-attr]
    names = backup_factors(scheme)
    if not names:
        return ["all"]
    strata = strata_of(definition, study, scheme)
    if "site" not in names:
        return strata
    return [s for s in strata if f"site={site.code}" in s.split("|")]


@dataclass(frozen=True)
class BackupWritten:
    backup_list: BackupList
    envelopes: int
    kits_reserved: int


def _reserve_kits(envelopes: list[Envelope], study: Study, site: StudySite, env: str) -> int:
    """Put a kit of the site holding each envelope's arm in it; refuse when the site lacks kits."""
    free: dict[str, list[Kit]] = {}
    for kit in (
        Kit.objects.select_for_update()
        .filter(study=study, environment=env, site=site, given_to__isnull=True, reserved=False)
        .order_by("-number")  # central allocation takes the lowest numbers; envelopes the highest
    ):
        free.setdefault(kit.arm, []).append(kit)
    reserved = []
    for envelope in envelopes:
        if not free.get(envelope.arm):
            raise ValidationError(
                "kits: "
                + _(
                    "site %(site)s has not enough free kits to put one in each envelope; add "
                    "kits to its kit list first."
                )
                % {"site": site.code}
            )
        kit = free[envelope.arm].pop(0)
        envelope.kit_number = kit.number
        kit.reserved = True
        reserved.append(kit)
    Kit.objects.bulk_update(reserved, ["reserved"])
    return len(reserved)


@transaction.atomic
def backup_list_generate(
    *, actor: Actor, study: Study, site: StudySite, per_stratum: int, seed: int | None = None
) -> BackupWritten:
    """Generate the site's sealed emergency envelopes: ``per_stratum`` (whole blocks) in each
    stratum of the site, from a secret seed of their own, with a reserved kit in each when the
    blinded study has a kit list. A site's backup list is generated once."""
    _require(actor, Action.MANAGE_STUDY, study=study)
    if site.study_id != study.pk:
        raise ValidationError("site: " + _("the site is not a site of this study."))
    if per_stratum < 1:
        raise ValidationError("per_stratum: " + _("give at least one entry per stratum."))
    stored, scheme = scheme_current(actor=actor, study=study)
    environment = environment_written(study)
    if BackupList.objects.filter(scheme=stored, environment=environment, site=site).exists():
        raise ValidationError(
            "site: " + _("site %(site)s already has its emergency envelopes.") % {"site": site.code}
        )
    _id, label = _actor_label(actor)
    sizes = backup_block_sizes(scheme)
    backup = BackupList.objects.create(
        scheme=stored,
        environment=environment,
        site=site,
        seed=str(seed if seed is not None else secrets.randbits(64)),
        per_stratum=per_stratum,
        block_sizes=list(sizes),
        created_by=label,
    )
    envelopes = [
        Envelope(
            backup_list=backup,
            number="",
            stratum=entry.stratum,
            sequence=entry.sequence,
            block=entry.block,
            block_size=entry.block_size,
            arm=entry.arm,
        )
        for stratum in _site_strata(study, scheme, site)
        for entry in stratum_list(
            seed=int(backup.seed),
            stratum=stratum,
            arms=scheme.arms,
            ratio=scheme.ratio,
            block_sizes=sizes,
            length=per_stratum,
        )
    ]
    for index, envelope in enumerate(envelopes, 1):
        envelope.number = f"E{site.code}-{index:04d}"
    kits = 0
    if study_blinded(study) and kits_in_use(study, environment):
        kits = _reserve_kits(envelopes, study, site, environment)
    Envelope.objects.bulk_create(envelopes)
    audit_record(
        actor=actor,
        action="randomisation.backup_generated",
        target=backup,
        new={
            "environment": environment,
            "site": site.code,
            "scheme": stored.number,
            "per_stratum": per_stratum,
            "envelopes": len(envelopes),
            "kits_reserved": kits,
            "seed_sha256": sha256_hex(backup.seed.encode()),
        },
        chain=study.audit_chain,
    )
    return BackupWritten(backup, len(envelopes), kits)


def envelope_of(study: Study, environment: str, number: str) -> Envelope | None:
    """Return the study's envelope numbered ``number`` (its latest backup list holding it)."""
    return (
        Envelope.objects.select_related("backup_list__site")
        .filter(
            backup_list__scheme__study=study,
            backup_list__environment=environment,
            number=number.strip(),
        )
        .order_by("-backup_list__scheme__number")
        .first()
    )


def _envelope_for(subject: Subject, number: str) -> Envelope:
    """Return the envelope, locked, that the subject's site used; refuse any other."""
    found = envelope_of(subject.study, subject.environment, number)
    if found is None:
        raise RandomisationRefused(
            "no_envelope",
            _("there is no envelope %(envelope)s in this study.") % {"envelope": number},
        )
    envelope = (
        Envelope.objects.select_for_update().select_related("backup_list__site").get(pk=found.pk)
    )
    if envelope.backup_list.site_id != subject.site_id:
        raise RandomisationRefused(
            "envelope_other_site",
            _("envelope %(envelope)s belongs to site %(site)s, not to the subject's site.")
            % {"envelope": envelope.number, "site": envelope.backup_list.site.code},
        )
    if envelope.allocation_id is not None:
        raise RandomisationRefused(
            "envelope_used",
            _("envelope %(envelope)s was already used for another allocation.")
            % {"envelope": envelope.number},
        )
    return envelope


def _text(field: str, value: str, message: str) -> str:
    value = (value or "").strip()
    if not value:
        raise ValidationError(f"{field}: {message}")
    return value


def subject_randomise_on_paper(
    *,
    actor: Actor,
    subject: Subject,
    envelope: str,
    allocated_at: datetime,
    allocated_by: str,
    reason: str,
    kit_given: str = "",
) -> Allocation:
    """Record an allocation made on paper during an outage: the envelope opened at the site,
    when (``allocated_at``, never in the future: its day is the randomisation date), by whom and
    why the system was not used; return the allocation (channel ``paper``, the next number).

    Refused (nothing recorded) for an envelope unknown, of another site or already used, a
    moment in the future, a subject who cannot be randomised or is already randomised, and a
    factor not entered in the casebook (the reconciliation compares it with the envelope).
    """
    _require(actor, Action.INCLUDE_SUBJECT, study=subject.study, site=subject.site)
    allocated_by = _text("allocated_by", allocated_by, _("say who opened the envelope."))
    reason = _text("reason", reason, _("say why the allocation was made on paper."))
    kit_given = (kit_given or "").strip()[:40]
    try:
        with transaction.atomic():
            subject = Subject.objects.select_related("study", "site__centre").get(pk=subject.pk)
            known = subject_factors_known(subject)
            moment, day = allocation_moment(subject, allocated_at)
            if day < subject.included_on:
                raise RandomisationRefused(
                    "before_inclusion",
                    _("%(day)s is before the inclusion of %(identifier)s (%(included)s).")
                    % {
                        "day": day.isoformat(),
                        "identifier": subject.identifier,
                        "included": subject.included_on.isoformat(),
                    },
                )
            counter = allocation_counter_lock(subject)
            chosen = _envelope_for(subject, envelope)
            return _record(
                actor=actor,
                subject=subject,
                envelope=chosen,
                counter=counter,
                factors=known,
                moment=moment,
                day=day,
                allocated_by=allocated_by,
                reason=reason,
                kit_given=kit_given,
            )
    except IntegrityError as error:
        if not Allocation.objects.filter(subject=subject).exists():
            raise
        raise RandomisationRefused(
            "already_randomised",
            _("%(identifier)s is already randomised.") % {"identifier": subject.identifier},
        ) from error


def _record(
    *,
    actor: Actor,
    subject: Subject,
    envelope: Envelope,
    counter: AllocationCounter,
    factors: dict[str, str],
    moment: datetime,
    day: date,
    allocated_by: str,
    reason: str,
    kit_given: str,
) -> Allocation:
    """Write the paper allocation, its envelope's record, the kit and the audit event."""
    study = subject.study
    stored, scheme = scheme_current(actor=actor, study=study)
    counter.last += 1
    counter.save(update_fields=["last"])
    now = utc_now()
    _id, label = _actor_label(actor)
    kit_number = kit_given or envelope.kit_number
    allocation = Allocation.objects.create(
        subject=subject,
        study=study,
        environment=subject.environment,
        scheme=stored,
        number=counter.last,
        method=scheme.method,
        arm=envelope.arm,
        stratum=envelope.stratum,
        factors=factors,
        randomised_on=day,
        allocated_by_id=None,
        allocated_by=allocated_by[:200],
        allocated_at=moment,
        channel=PAPER,
        kit_number=kit_number,
    )
    envelope.allocation = allocation
    envelope.allocated_by = allocated_by[:200]
    envelope.reason = reason
    envelope.kit_given = kit_number
    envelope.recorded_by = label
    envelope.recorded_at = now
    envelope.save(
        update_fields=[
            "allocation",
            "allocated_by",
            "reason",
            "kit_given",
            "recorded_by",
            "recorded_at",
        ]
    )
    if envelope.kit_number:
        Kit.objects.filter(
            study=study, environment=subject.environment, number=envelope.kit_number
        ).update(given_to=subject, given_at=moment)
    subject_randomisation_date_set(actor=actor, subject=subject, on=day)
    audit_record(
        actor=actor,
        action="randomisation.allocated",
        target=allocation,
        new={
            "subject": subject.identifier,
            "number": allocation.number,
            "scheme": stored.number,
            "method": scheme.method,
            "channel": PAPER,
            "arm": envelope.arm,
            "stratum": envelope.stratum,
            "factors": factors,
            "draw": None,
            "list_entry": None,
            "envelope": envelope.number,
            "allocated_at": moment,
            "allocated_by": allocated_by,
            "reason": reason,
            "recorded_by": label,
            "randomised_on": day,
            "kit_number": kit_number,
        },
        reason=reason,
        chain=study.audit_chain,
    )
    allocation_confirm(allocation)
    return allocation


@transaction.atomic
def envelope_opened_report(
    *, actor: Actor, study: Study, envelope: str, opened_at: datetime, note: str
) -> Envelope:
    """Report an envelope found opened (its seal broken) with no allocation recorded for it;
    the reconciliation lists it until an allocation with it is recorded. Return the envelope."""
    _require(actor, Action.VIEW_SUBJECTS, study=study)
    environment = environment_written(study)
    found = envelope_of(study, environment, envelope)
    if found is None:
        raise RandomisationRefused(
            "no_envelope",
            _("there is no envelope %(envelope)s in this study.") % {"envelope": envelope},
        )
    _require(actor, Action.VIEW_SUBJECTS, study=study, site=found.backup_list.site)
    note = _text("note", note, _("say how the envelope was found."))
    if opened_at.tzinfo is None or opened_at > utc_now():
        raise RandomisationRefused(
            "future",
            _("%(moment)s is in the future: an allocation is recorded once it is made.")
            % {"moment": opened_at.isoformat(timespec="minutes")},
        )
    if found.opened_at is not None:
        raise RandomisationRefused(
            "envelope_used",
            _("envelope %(envelope)s is already reported opened.") % {"envelope": found.number},
        )
    _id, label = _actor_label(actor)
    found.opened_at, found.opened_note, found.opened_reported_by = opened_at, note, label
    found.save(update_fields=["opened_at", "opened_note", "opened_reported_by"])
    audit_record(
        actor=actor,
        action="randomisation.envelope_opened",
        target=found,
        new={"envelope": found.number, "opened_at": opened_at, "note": note},
        reason=note,
        chain=study.audit_chain,
    )
    return found
