"""Writes for randomisation: schemes, lists (generated or imported, extended never edited) and
`subject_randomise`, the one place a subject is allocated.

Each service checks the actor's rights, then every input, then writes its rows and audit events
in one transaction: a refusal leaves nothing behind. Refusals never name an arm, so the same
message can go to a blinded person.
"""

from __future__ import annotations

import csv
import io
import itertools
import secrets
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from django.db import IntegrityError, transaction
from django.utils import translation
from django.utils.translation import gettext as _

from carnet.accounts.models import User
from carnet.accounts.permissions import Actor, require
from carnet.accounts.roles import Action, Role
from carnet.accounts.selectors import site_members
from carnet.audit.services import SystemActor, audit_record
from carnet.core.clock import utc_now
from carnet.core.errors import ValidationError
from carnet.core.hashing import sha256_hex, sha256_of_json
from carnet.messaging.services import message_send, recipient_language
from carnet.randomization.blocks import stratum_list
from carnet.randomization.confirmations import allocation_confirm
from carnet.randomization.kits import KitsExhausted, kit_number_take, kits_exhausted_refusal
from carnet.randomization.minimisation import minimisation_allocate, simple_allocate
from carnet.randomization.models import (
    Allocation,
    AllocationCounter,
    AllocationList,
    ListEntry,
    Method,
    Scheme,
)
from carnet.randomization.selectors import (
    RandomisationRefused,
    definition_and_scheme,
    factor_levels,
    marginal_counts,
    stratum_key,
    subject_refusal,
)
from carnet.studies.definition.model import RandomisationScheme, StudyDefinition
from carnet.studies.models import Study
from carnet.subjects.environments import Environment, environment_written
from carnet.subjects.models import Subject
from carnet.subjects.services import subject_randomisation_date_set

# The uniform numbers that decide minimisation and simple randomisation: from the operating
# system's generator, never predictable from earlier ones; each is recorded with its allocation.
_SYSTEM_RANDOM = secrets.SystemRandom()

RandomSource = Callable[[], float]  # returns a uniform number in [0, 1)


def allocation_moment(subject: Subject, at: datetime | None) -> tuple[datetime, date]:
    """Return the moment of an allocation (now, or ``at``) in UTC and its day at the subject's
    site; refuse a moment in the future or without a time zone."""
    now = utc_now()
    if at is None:
        at = now
    if at.tzinfo is None:
        raise RandomisationRefused(
            "moment", _("the moment of the allocation needs a time zone (or UTC).")
        )
    if at > now:
        raise RandomisationRefused(
            "future",
            _("%(moment)s is in the future: an allocation is recorded once it is made.")
            % {"moment": at.isoformat(timespec="minutes")},
        )
    day = at.astimezone(ZoneInfo(subject.site.centre.time_zone)).date()
    return at.astimezone(now.tzinfo), day


def _require(actor: Actor, action: Action, *, study: Study, site: object = None) -> None:
    """Refuse unless the actor may act here; commands run on the server act for the centre."""
    if isinstance(actor, SystemActor):
        return
    require(actor, action, study=study, site=site)  # type: ignore[arg-type]


def _actor_label(actor: Actor) -> tuple[int | None, str]:
    if isinstance(actor, SystemActor):
        return None, actor.label
    return actor.pk, actor.get_username()


# --- schemes ---------------------------------------------------------------------------------


def scheme_current(*, actor: Actor, study: Study) -> tuple[Scheme, RandomisationScheme]:
    """Return the stored scheme of the study's current version, recording it when it is new."""
    _definition, scheme = definition_and_scheme(study)
    data = asdict(scheme)
    digest = sha256_of_json(data)
    latest = Scheme.objects.filter(study=study).order_by("-number").first()
    if latest is not None and latest.sha256 == digest:
        return latest, scheme
    assert study.current_version is not None  # checked by _definition_and_scheme
    stored = Scheme.objects.create(
        study=study,
        number=(latest.number if latest else 0) + 1,
        study_version=study.current_version,
        method=scheme.method,
        definition=data,
        sha256=digest,
    )
    audit_record(
        actor=actor,
        action="randomisation.scheme_recorded",
        target=stored,
        new={"number": stored.number, "version": study.current_version.number, "scheme": data},
        chain=study.audit_chain,
    )
    return stored, scheme


# --- lists -----------------------------------------------------------------------------------


def _factor_codes(definition: StudyDefinition, study: Study, name: str) -> list[str]:
    """Return a stratification factor's levels: the study's site codes or the item's codes."""
    if name == "site":
        return list(study.sites.order_by("code").values_list("code", flat=True))
    item = next(item for _f, _g, item in definition.items() if item.name == name)
    return [str(code.code) for code in definition.code_list(item.code_list).items]


def strata_of(definition: StudyDefinition, study: Study, scheme: RandomisationScheme) -> list[str]:
    """Return every stratum of a blocks scheme: each combination of its factors' levels."""
    names = [factor.name for factor in scheme.factors]
    levels = [_factor_codes(definition, study, name) for name in names]
    return [
        stratum_key(dict(zip(names, combination, strict=True)))
        for combination in itertools.product(*levels)
    ]


def _blocks_scheme(actor: Actor, study: Study) -> tuple[Scheme, RandomisationScheme]:
    _require(actor, Action.MANAGE_STUDY, study=study)
    stored, scheme = scheme_current(actor=actor, study=study)
    if scheme.method != Method.BLOCKS:
        raise RandomisationRefused(
            "not_blocks",
            _("%(study)s allocates by %(method)s: it has no list.")
            % {"study": study.identifier, "method": scheme.method},
        )
    return stored, scheme


def list_entries_sha256(allocation_list: AllocationList) -> str:
    """Return the hash of a list's entries (stratum, sequence, arm): what the report prints."""
    rows = allocation_list.entries.order_by("stratum", "sequence").values_list(
        "stratum", "sequence", "arm", "treatment_code"
    )
    return sha256_of_json([list(row) for row in rows])


@dataclass(frozen=True)
class ListWritten:
    allocation_list: AllocationList
    added: int
    sha256: str


@transaction.atomic
def list_generate(
    *, actor: Actor, study: Study, per_stratum: int, seed: int | None = None
) -> ListWritten:
    """Generate the study's list, or extend it to ``per_stratum`` entries in every stratum.

    Extending regenerates each stratum from the list's own seed: the entries already there come
    out the same (a stratum's list is a prefix of any longer one) and only new ones are added.
    """
    stored, scheme = _blocks_scheme(actor, study)
    if per_stratum < 1:
        raise ValidationError("per_stratum: " + _("give at least one entry per stratum."))
    definition = study.current_version.parsed()  # type: ignore[union-attr]
    environment = environment_written(study)
    existing = (
        AllocationList.objects.select_for_update()
        .filter(scheme=stored, environment=environment)
        .first()
    )
    if existing is not None and existing.source != AllocationList.Source.GENERATED:
        raise ValidationError(
            "list: " + _("this study's list was imported: extend it by importing more entries.")
        )
    if existing is not None and seed is not None and str(seed) != existing.seed:
        raise ValidationError(
            "seed: " + _("the list exists: it is extended from its own seed, give none.")
        )
    if existing is not None and per_stratum <= existing.per_stratum:
        raise ValidationError(
            "per_stratum: "
            + _("the list already has %(count)s entries per stratum; a list is only extended.")
            % {"count": existing.per_stratum}
        )
    _id, label = _actor_label(actor)
    if existing is None:
        existing = AllocationList.objects.create(
            scheme=stored,
            environment=environment,
            source=AllocationList.Source.GENERATED,
            seed=str(seed if seed is not None else secrets.randbits(64)),
            created_by=label,
        )
    have = {
        (stratum, sequence)
        for stratum, sequence in existing.entries.values_list("stratum", "sequence")
    }
    new_entries = [
        ListEntry(
            allocation_list=existing,
            stratum=entry.stratum,
            sequence=entry.sequence,
            block=entry.block,
            block_size=entry.block_size,
            arm=entry.arm,
        )
        for stratum in strata_of(definition, study, scheme)
        for entry in stratum_list(
            seed=int(existing.seed),
            stratum=stratum,
            arms=scheme.arms,
            ratio=scheme.ratio,
            block_sizes=scheme.block_sizes,
            length=per_stratum,
        )
        if (entry.stratum, entry.sequence) not in have
    ]
    ListEntry.objects.bulk_create(new_entries)
    old_per_stratum = existing.per_stratum
    existing.per_stratum = per_stratum
    existing.save(update_fields=["per_stratum"])
    digest = list_entries_sha256(existing)
    # The seed stays out of the audit trail: blinded people may read parts of the study's chain.
    audit_record(
        actor=actor,
        action="randomisation.list_generated",
        target=existing,
        old={"per_stratum": old_per_stratum} if old_per_stratum else None,
        new={
            "environment": environment,
            "scheme": stored.number,
            "per_stratum": per_stratum,
            "added": len(new_entries),
            "seed_sha256": sha256_hex(existing.seed.encode()),
            "entries_sha256": digest,
        },
        chain=study.audit_chain,
    )
    return ListWritten(existing, len(new_entries), digest)


IMPORT_COLUMNS = ("sequence", "arm")
IMPORT_OPTIONAL = ("block", "block_size", "treatment_code")


def _line_refusal(line: int, why: str) -> ValidationError:
    return ValidationError(_("line %(line)s: %(why)s") % {"line": line, "why": why})


def _positive(line: int, column: str, text: str, *, optional: bool = False) -> int | None:
    text = (text or "").strip()
    if optional and not text:
        return None
    if not text.isdigit() or int(text) < 1:
        raise _line_refusal(
            line,
            _("%(column)s %(value)r is not a whole number from 1.")
            % {"column": column, "value": text},
        )
    return int(text)


def _parse_import(
    content: bytes,
    *,
    factors: list[str],
    levels: Mapping[str, set[str]],
    arms: tuple[str, ...],
) -> list[tuple[int, ListEntry]]:
    """Return each CSV line as an entry (not saved) with its line number, or refuse one line."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ValidationError(_("the file is not UTF-8 text.")) from error
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [name.strip() for name in reader.fieldnames or []]
    missing = [name for name in (*factors, *IMPORT_COLUMNS) if name not in header]
    if missing:
        raise _line_refusal(1, _("missing columns: %(columns)s.") % {"columns": ", ".join(missing)})
    entries = []
    for row in reader:
        line = reader.line_num
        row = {(key or "").strip(): (value or "").strip() for key, value in row.items()}
        stratum_levels = {}
        for factor in factors:
            if row[factor] not in levels[factor]:
                raise _line_refusal(
                    line,
                    _("%(factor)s %(value)r is not a level of the stratum (%(levels)s).")
                    % {
                        "factor": factor,
                        "value": row[factor],
                        "levels": ", ".join(sorted(levels[factor])),
                    },
                )
            stratum_levels[factor] = row[factor]
        if row["arm"] not in arms:
            raise _line_refusal(
                line,
                _("the arm %(value)r is not one of %(arms)s.")
                % {"value": row["arm"], "arms": ", ".join(arms)},
            )
        entries.append(
            (
                line,
                ListEntry(
                    stratum=stratum_key(stratum_levels),
                    sequence=_positive(line, "sequence", row["sequence"]) or 0,
                    block=_positive(line, "block", row.get("block", ""), optional=True),
                    block_size=_positive(
                        line, "block_size", row.get("block_size", ""), optional=True
                    ),
                    arm=row["arm"],
                    treatment_code=row.get("treatment_code", "")[:40],
                ),
            )
        )
    if not entries:
        raise _line_refusal(2, _("the file has no entries."))
    return entries


def _check_sequences(
    entries: list[tuple[int, ListEntry]], have: Mapping[str, dict[int, tuple[str, str]]]
) -> list[ListEntry]:
    """Return the entries that extend the list; refuse a gap, a repeat or an edited entry."""
    expected = {stratum: len(sequences) + 1 for stratum, sequences in have.items()}
    new = []
    for line, entry in entries:
        known = have.get(entry.stratum, {}).get(entry.sequence)
        if known is not None:
            if known != (entry.arm, entry.treatment_code):
                raise _line_refusal(
                    line,
                    _(
                        "%(stratum)s #%(sequence)s is already in the list with another content; "
                        "a list is only extended, never edited."
                    )
                    % {"stratum": entry.stratum, "sequence": entry.sequence},
                )
            continue
        want = expected.get(entry.stratum, 1)
        if entry.sequence != want:
            raise _line_refusal(
                line,
                _("sequence %(sequence)s in %(stratum)s: the next one expected is %(want)s.")
                % {"sequence": entry.sequence, "stratum": entry.stratum, "want": want},
            )
        expected[entry.stratum] = want + 1
        new.append(entry)
    return new


@transaction.atomic
def list_import(
    *, actor: Actor, study: Study, content: bytes, sha256: str, file_name: str = ""
) -> ListWritten:
    """Import (or extend) the study's list from a CSV made by SAS or R; all lines or none.

    Columns: one per stratification factor (``site``, then item names) with its level, then
    ``sequence`` (1, 2, … within the stratum) and ``arm`` (an arm's name); optionally ``block``,
    ``block_size`` and ``treatment_code``. ``sha256`` is the file's checksum as its author gave it.
    """
    stored, scheme = _blocks_scheme(actor, study)
    digest = sha256_hex(content)
    if sha256.strip().lower() != digest:
        raise ValidationError(
            "sha256: "
            + _("the file's checksum is %(digest)s, not the one given: it is not the file meant.")
            % {"digest": digest}
        )
    definition = study.current_version.parsed()  # type: ignore[union-attr]
    factors = [factor.name for factor in scheme.factors]
    levels = {name: set(_factor_codes(definition, study, name)) for name in factors}
    parsed = _parse_import(content, factors=factors, levels=levels, arms=scheme.arms)
    environment = environment_written(study)
    existing = (
        AllocationList.objects.select_for_update()
        .filter(scheme=stored, environment=environment)
        .first()
    )
    if existing is not None and existing.source != AllocationList.Source.IMPORTED:
        raise ValidationError(
            "list: " + _("this study's list was generated in Carnet: extend it by generating.")
        )
    have: dict[str, dict[int, tuple[str, str]]] = {}
    if existing is not None:
        for stratum, sequence, arm, code in existing.entries.values_list(
            "stratum", "sequence", "arm", "treatment_code"
        ):
            have.setdefault(stratum, {})[sequence] = (arm, code)
    new = _check_sequences(parsed, have)
    _id, label = _actor_label(actor)
    if existing is None:
        existing = AllocationList.objects.create(
            scheme=stored,
            environment=environment,
            source=AllocationList.Source.IMPORTED,
            file_name=file_name[:300],
            file_sha256=digest,
            created_by=label,
        )
    for entry in new:
        entry.allocation_list = existing
    ListEntry.objects.bulk_create(new)
    entries_digest = list_entries_sha256(existing)
    audit_record(
        actor=actor,
        action="randomisation.list_imported",
        target=existing,
        new={
            "environment": environment,
            "scheme": stored.number,
            "file": file_name,
            "file_sha256": digest,
            "added": len(new),
            "entries_sha256": entries_digest,
        },
        chain=study.audit_chain,
    )
    return ListWritten(existing, len(new), entries_digest)


# --- allocation ------------------------------------------------------------------------------


class _Exhausted(Exception):
    def __init__(self, stratum: str) -> None:
        self.stratum = stratum


def _from_list(stored: Scheme, subject: Subject, stratum: str) -> ListEntry:
    """Return the stratum's next unused entry, locked; raise _Exhausted when none is left."""
    entry = (
        ListEntry.objects.select_for_update()
        .filter(
            allocation_list__scheme=stored,
            allocation_list__environment=subject.environment,
            stratum=stratum,
            used_by__isnull=True,
        )
        .order_by("sequence")
        .first()
    )
    if entry is None:
        raise _Exhausted(stratum)
    return entry


def subject_factors_known(subject: Subject) -> dict[str, str]:
    """Return the subject's factor levels from the casebook; refuse when one is not entered or
    the subject cannot be randomised now."""
    refusal = subject_refusal(subject)
    if refusal:
        raise RandomisationRefused(*refusal)
    definition, scheme = definition_and_scheme(subject.study)
    levels = factor_levels(subject, scheme, definition)
    missing = [name for name, level in levels.items() if level is None]
    if missing:
        raise RandomisationRefused(
            "missing_factor",
            _("enter %(factors)s in the casebook first: the randomisation reads it from there.")
            % {"factors": ", ".join(missing)},
        )
    return {name: str(level) for name, level in levels.items()}


def allocation_counter_lock(subject: Subject) -> AllocationCounter:
    """Lock and return the study's allocation counter, then refuse a subject already randomised.

    One allocation at a time per study and environment: the counter row is the lock. On SQLite
    the IMMEDIATE transaction already holds the write lock; on PostgreSQL FOR UPDATE waits.
    """
    AllocationCounter.objects.get_or_create(study=subject.study, environment=subject.environment)
    counter = AllocationCounter.objects.select_for_update().get(
        study=subject.study, environment=subject.environment
    )
    # Read again under the lock: a concurrent request for the same subject has committed by now.
    if Allocation.objects.filter(subject=subject).exists():
        raise RandomisationRefused(
            "already_randomised",
            _("%(identifier)s is already randomised.") % {"identifier": subject.identifier},
        )
    return counter


def _allocate(
    *,
    actor: Actor,
    subject: Subject,
    confirm_factors: Mapping[str, str] | None,
    random_source: RandomSource,
    at: datetime | None,
) -> Allocation:
    """Allocate inside the caller's transaction; the study's counter row is locked first."""
    known = subject_factors_known(subject)
    if confirm_factors is not None and {k: str(v) for k, v in confirm_factors.items()} != known:
        raise RandomisationRefused(
            "factors_changed",
            _("the factor values changed since they were shown; check them and confirm again."),
        )
    now, today = allocation_moment(subject, at)
    study = subject.study
    counter = allocation_counter_lock(subject)
    stored, scheme = scheme_current(actor=actor, study=study)
    stratum = stratum_key(known) if scheme.method == Method.BLOCKS else ""
    entry, draw, scores = None, None, {}
    if scheme.method == Method.BLOCKS:
        entry = _from_list(stored, subject, stratum)
        arm = entry.arm
    elif scheme.method == Method.MINIMISATION:
        draw = random_source()
        result = minimisation_allocate(
            arms=scheme.arms,
            ratio=scheme.ratio,
            weights={factor.name: factor.weight for factor in scheme.factors},
            counts=marginal_counts(study, subject.environment),
            levels=known,
            measure=scheme.imbalance,
            p=scheme.p,
            draw=draw,
        )
        arm, scores = result.arm, result.scores
    else:
        draw = random_source()
        arm = simple_allocate(arms=scheme.arms, ratio=scheme.ratio, draw=draw)
    # Blinded studies with a kit list, or the pharmacy's kits: the site's next usable kit(s).
    kit_number = kit_number_take(subject, arm, actor=actor, at=now)
    counter.last += 1
    counter.save(update_fields=["last"])
    actor_id, label = _actor_label(actor)
    allocation = Allocation.objects.create(
        subject=subject,
        study=study,
        environment=subject.environment,
        scheme=stored,
        number=counter.last,
        method=scheme.method,
        arm=arm,
        stratum=stratum,
        factors=known,
        draw=draw,
        scores=scores,
        list_entry=entry,
        randomised_on=today,
        allocated_by_id=actor_id,
        allocated_by=label,
        allocated_at=now,
        kit_number=kit_number,
    )
    if entry is not None:
        entry.used_by, entry.used_at, entry.concealed = subject, now, False
        entry.save(update_fields=["used_by", "used_at", "concealed"])
    subject_randomisation_date_set(actor=actor, subject=subject, on=today)
    audit_record(
        actor=actor,
        action="randomisation.allocated",
        target=allocation,
        new={
            "subject": subject.identifier,
            "number": allocation.number,
            "scheme": stored.number,
            "method": scheme.method,
            "arm": arm,
            "stratum": stratum,
            "factors": known,
            "draw": draw,
            "list_entry": [entry.stratum, entry.sequence] if entry else None,
            "randomised_on": today,
            "kit_number": allocation.kit_number,
        },
        chain=study.audit_chain,
    )
    allocation_confirm(allocation)
    return allocation


def _exhausted_notify(subject: Subject, stratum: str) -> None:
    """Tell the data managers of the subject's site that a stratum's list ran out."""
    words = {"study": subject.study.identifier, "stratum": stratum, "subject": subject.identifier}
    recipients: list[User] = site_members(
        study=subject.study, site=subject.site_id, roles=[Role.DATA_MANAGER]
    )
    for recipient in recipients:
        language = recipient_language(recipient)
        with translation.override(language):
            title = _("%(study)s: the randomisation list is exhausted (%(stratum)s)") % words
            body = (
                _(
                    "Subject %(subject)s of study %(study)s could not be randomised: the list has "
                    "no entry left in the stratum %(stratum)s. Extend the list (carnet "
                    "randomization generate or import), then the site can randomise again."
                )
                % words
            )
            if subject.environment == Environment.TEST:
                body += "\n\n" + _("Test data: the study is in test mode.")
        message_send(recipient=recipient, subject=title, body=body, language=language)


def subject_randomise(
    *,
    actor: Actor,
    subject: Subject,
    confirm_factors: Mapping[str, str] | None = None,
    random_source: RandomSource | None = None,
    at: datetime | None = None,
) -> Allocation:
    """Randomise the subject: exactly once, from the casebook's factor values; return the
    allocation. ``confirm_factors``, when given, must be the values the person was shown.

    ``random_source`` gives the uniform numbers of minimisation and simple randomisation (the
    operating system's generator unless given: the demo passes a seeded one so it loads the same
    every time; each draw is recorded and `verify` replays it). ``at`` is the moment of the
    allocation (now unless given; never in the future): its day at the subject's site is the
    randomisation date, the schedule's anchor.

    Refused (nothing allocated) for a subject not eligible, without consent, withdrawn, of the
    test environment in a production study, of another site, already randomised, with a factor
    not entered, or when the stratum's list is exhausted (the data managers are told).
    """
    _require(actor, Action.INCLUDE_SUBJECT, study=subject.study, site=subject.site)
    try:
        with transaction.atomic():
            subject = Subject.objects.select_related("study", "site__centre").get(pk=subject.pk)
            return _allocate(
                actor=actor,
                subject=subject,
                confirm_factors=confirm_factors,
                random_source=random_source or _SYSTEM_RANDOM.random,
                at=at,
            )
    except KitsExhausted:
        raise kits_exhausted_refusal(subject) from None
    except _Exhausted as exhausted:
        with transaction.atomic():
            _exhausted_notify(subject, exhausted.stratum)
        raise RandomisationRefused(
            "exhausted",
            _(
                "the randomisation list has no entry left for this subject's stratum; the data "
                "managers are told. Nothing was allocated."
            ),
        ) from None
    except IntegrityError as error:
        # The unique constraints are the last line of defence behind the lock.
        if not Allocation.objects.filter(subject=subject).exists():
            raise
        raise RandomisationRefused(
            "already_randomised",
            _("%(identifier)s is already randomised.") % {"identifier": subject.identifier},
        ) from error
