"""Writes on subjects. Each service checks the actor's rights first, then every input, and only
then writes its rows and audit events in one transaction: a refusal leaves nothing behind."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max, Model, QuerySet
from django.utils.translation import gettext as _

from carnet.accounts.models import StudySite, User
from carnet.accounts.permissions import Actor, PermissionDenied, may, require, site_scope
from carnet.accounts.roles import Action
from carnet.audit.services import AuditEntry, SystemActor, audit_record, audit_record_many
from carnet.core.clock import utc_now
from carnet.core.errors import ValidationError
from carnet.core.hashing import sha256_hex
from carnet.db.prepared import Prepared
from carnet.studies.definition.model import StudyDefinition
from carnet.studies.models import Study, StudyMode
from carnet.subjects import vault
from carnet.subjects.eligibility import CriterionResult, detail_text, evaluate_criteria
from carnet.subjects.environments import Environment, environment_written
from carnet.subjects.models import (
    Consent,
    EligibilityReview,
    IdentifierCounter,
    Identity,
    News,
    ScreeningEntry,
    Sex,
    StatusChange,
    Subject,
    SubjectSettings,
    Transfer,
    Visit,
    Withdrawal,
)
from carnet.subjects.registration import (
    CasebookRefusal,
    RegistrationAnswers,
    casebook_values,
    casebook_write,
    eligibility_from_answers,
    registration_field,
)
from carnet.subjects.scheduling import schedule_rebuild, schedule_refresh
from carnet.subjects.statuses import (
    ACTIVE,
    REVIEW_ONLY,
    STUDY_MOVES,
    EligibilityReviewStatus,
    OffTreatmentReason,
    StatusReason,
    StudyStatus,
    TreatmentStatus,
    WithdrawalKind,
    check_study_move,
    check_treatment_move,
)

DOCUMENT_MAX_BYTES = 10 * 1024 * 1024
DOCUMENT_TYPES = {b"%PDF": ".pdf", b"\x89PNG": ".png", b"\xff\xd8\xff": ".jpg"}


# --- shared checks --------------------------------------------------------------------------


def _require(actor: Actor, action: Action, *, study: Study, site: StudySite | None) -> None:
    """Refuse unless the actor may act here; commands run on the server act for the centre."""
    if isinstance(actor, SystemActor):
        return
    require(actor, action, study=study, site=site)


def _refusal(field: str, why: str) -> ValidationError:
    """Return a refusal that names its field, then says why in the person's language.

    The field's name stays outside the translated text: API clients read it, and the pages use
    it to put the refusal next to the field, whatever the language."""
    return ValidationError(f"{field}: {why}")


def site_today(site: StudySite) -> date:
    """Return today's date at a site, in its centre's time zone."""
    return utc_now().astimezone(ZoneInfo(site.centre.time_zone)).date()


def _not_future(field: str, day: date, site: StudySite) -> None:
    today = site_today(site)
    if day > today:
        raise _refusal(
            field,
            _("%(date)s is in the future (today is %(today)s at site %(site)s).")
            % {"date": day.isoformat(), "today": today.isoformat(), "site": site.code},
        )


def _definition(study: Study) -> StudyDefinition:
    if study.current_version is None:
        raise ValidationError(
            _("%(study)s has no published version: nobody can be included.")
            % {"study": study.identifier}
        )
    return study.current_version.parsed()


def subject_settings(study: Study) -> SubjectSettings:
    """Return the study's subject options (the defaults, unsaved, until someone sets them)."""
    found = SubjectSettings.objects.filter(study=study).first()
    return found or SubjectSettings(study=study)


def _first_consent_on(subject: Subject) -> date | None:
    first = subject.consents.order_by("consented_on").first()
    return first.consented_on if first else None


def _withdrawn(subject: Subject, kind: str) -> Withdrawal | None:
    return subject.withdrawals.filter(kind=kind).first()


def environment_refusal(subject: Subject) -> str | None:
    """Return why the subject's data cannot change in the study's current mode, or None."""
    if subject.environment == environment_written(subject.study):
        return None
    if subject.environment == Environment.TEST:
        return _(
            "%(identifier)s is a test patient: its data can be read in the test view but not "
            "changed once the study has left test mode"
        ) % {"identifier": subject.identifier}
    # A patient included in design mode, before the study went to test.
    return _(
        "%(identifier)s is not a test patient: its data cannot change while the study is in "
        "test mode"
    ) % {"identifier": subject.identifier}


def _in_current_environment(subject: Subject) -> None:
    refusal = environment_refusal(subject)
    if refusal:
        raise ValidationError(refusal)


def entry_refusal(subject: Subject, *, on: date) -> str | None:
    """Return why nothing dated ``on`` may be entered for the subject, or None when it may."""
    return EntryLimits.of(subject).refusal(on)


def _entry_withdrawals(subject_id: int) -> QuerySet[Withdrawal]:
    return Withdrawal.objects.filter(
        subject_id=subject_id, kind__in=[WithdrawalKind.DATA_USE, WithdrawalKind.FOLLOW_UP]
    ).order_by("-withdrawn_on")


# Read by every save: compiled once (carnet/db/prepared.py).
_ENTRY_WITHDRAWALS = Prepared(_entry_withdrawals, int)


@dataclass(frozen=True)
class EntryLimits:
    """What limits entry for one subject, read once: a batch of visits asks for each date."""

    subject: Subject
    refused: str | None  # a refusal whatever the date (environment, status, objection)
    follow_up_stop: date | None

    @classmethod
    def of(cls, subject: Subject) -> EntryLimits:
        refusal = environment_refusal(subject)
        if refusal:
            return cls(subject, refusal, None)
        if subject.study_status == StudyStatus.SCREENED:
            return cls(
                subject, _("the central eligibility review has not approved this subject yet"), None
            )
        if subject.study_status == StudyStatus.SCREEN_FAILURE:
            return cls(subject, _("this subject is a screen failure and was never included"), None)
        # One read of the withdrawals that limit entry: this runs on every save.
        withdrawals: dict[str, Withdrawal] = {}
        for withdrawal in _ENTRY_WITHDRAWALS(subject.pk):
            withdrawals[withdrawal.kind] = withdrawal  # the earliest of a kind wins
        objection = withdrawals.get(WithdrawalKind.DATA_USE)
        if objection is not None:
            return cls(
                subject,
                _(
                    "the subject objected to further use of their data on %(date)s: nothing "
                    "more may be entered"
                )
                % {"date": objection.withdrawn_on.isoformat()},
                None,
            )
        stop = withdrawals.get(WithdrawalKind.FOLLOW_UP)
        return cls(subject, None, stop.withdrawn_on if stop is not None else None)

    def refusal(self, on: date) -> str | None:
        """Return why nothing dated ``on`` may be entered, or None when it may."""
        if self.refused is not None:
            return self.refused
        if self.follow_up_stop is not None and on > self.follow_up_stop:
            return _(
                "the subject withdrew from follow-up on %(date)s: only data dated on or before "
                "that day may be entered"
            ) % {"date": self.follow_up_stop.isoformat()}
        return None


# Other apps' dated information about a subject (captured dates of visits, examinations…):
# each source returns the latest such date on or before today, or None. Its ``after_death``
# companion flags, where the data manager sees them, the source's own records dated after a
# subject's death (and withdraws the flags whose records no longer are).
NewsSource = Callable[[Subject], date | None]
AfterDeath = Callable[[Subject, date], None]
NEWS_SOURCES: list[NewsSource] = []
AFTER_DEATH: list[AfterDeath] = []


def register_news_source(source: NewsSource, *, after_death: AfterDeath | None = None) -> None:
    """Let an app's dated data count as news of a subject (called from its AppConfig.ready)."""
    if source not in NEWS_SOURCES:
        NEWS_SOURCES.append(source)
    if after_death is not None and after_death not in AFTER_DEATH:
        AFTER_DEATH.append(after_death)


def subject_last_news_refresh(subject: Subject) -> date:
    """Recompute and store a subject's date of last news; return it."""
    _refresh_last_news(subject)
    return subject.last_news_on


def subject_last_news_advance(subject: Subject, on: date) -> None:
    """Move the subject's date of last news forward to ``on``, a new dated record, if later.

    One UPDATE, for the common case of a save adding a date: a date changed or removed, or any
    date of a deceased subject, needs `subject_last_news_refresh` instead."""
    if on > subject.last_news_on:
        Subject.objects.filter(pk=subject.pk).update(last_news_on=on)
        subject.last_news_on = on


@functools.cache
def _own_dates_statement(vendor: str) -> str:
    """Return the statement reading a subject's own latest dates, built once per database kind.

    Plain SQL, as the audit trail's append: through the ORM the seven subqueries cost more to
    build and compile (in the demo's load, a tenth of its time) than to run."""
    quote = connection.ops.quote_name  # the same for every connection of one vendor

    def column(model: type[Model], field: str) -> str:
        return quote(str(model._meta.get_field(field).column))  # type: ignore[union-attr]

    def latest(model: type[Model], field: str, condition: str = "") -> str:
        # Names come from the models and are quoted; every value is a parameter.
        return (
            f"(SELECT MAX({column(model, field)}) FROM {quote(model._meta.db_table)} "  # noqa: S608
            f"WHERE {column(model, 'subject')} = %s{condition})"
        )

    track, new = column(StatusChange, "track"), column(StatusChange, "new")
    return "SELECT " + ", ".join(
        [
            latest(StatusChange, "on", f" AND {track} = %s AND {new} = %s"),
            latest(Consent, "consented_on"),
            latest(Withdrawal, "withdrawn_on"),
            latest(Visit, "visit_on"),
            latest(News, "news_on"),
            latest(Transfer, "transferred_on"),
            # Declaring someone lost is the absence of news, not news.
            latest(StatusChange, "on", f" AND {new} <> %s"),
        ]
    )


def _own_dates(subject: Subject) -> list[date | None]:
    """Return the subject's day of death, then its own latest dates (consent, withdrawal, visit,
    news, transfer, change of status), each None when there is none."""
    pk = subject.pk
    # The choices' values as plain text: a driver may send an enum member by its name.
    study, deceased = StatusChange.Track.STUDY.value, StudyStatus.DECEASED.value
    parameters: list[Any] = [pk, study, deceased, pk, pk, pk, pk, pk]
    parameters += [pk, StudyStatus.LOST_TO_FOLLOW_UP.value]
    with connection.cursor() as cursor:
        cursor.execute(_own_dates_statement(connection.vendor), parameters)
        row = cursor.fetchone()
    # SQLite gives the text of a date (no column type reaches an aggregate); PostgreSQL a date.
    return [day if day is None or isinstance(day, date) else date.fromisoformat(day) for day in row]


def _refresh_last_news(subject: Subject) -> None:
    """Recompute the date of last news: the last day the subject was known alive.

    For a deceased subject that is the day of death: anything dated later contradicts the death
    (one of the two dates is wrong), so it is flagged by its source, never counted. The subject's
    own dates are read in one statement: this runs after every visit, consent and change of
    status."""
    # The day of death is read from the history rather than the object: callers may hold a
    # copy from before the death.
    died_on, *latest = _own_dates(subject)
    if died_on is not None:
        for flag in AFTER_DEATH:
            flag(subject, died_on)
        subject.last_news_on = died_on
        subject.save(update_fields=["last_news_on"])
        return
    dates = [subject.included_on, *(day for day in latest if day is not None)]
    dates.extend(day for source in NEWS_SOURCES if (day := source(subject)) is not None)
    subject.last_news_on = max(dates)
    subject.save(update_fields=["last_news_on"])


def _status_move(
    *, actor: Actor, subject: Subject, track: str, new: str, on: date, reason: str
) -> None:
    """Apply one status move already checked, with its history row and audit event."""
    if track == StatusChange.Track.STUDY:
        old = subject.study_status
        subject.study_status, subject.study_status_on = new, on
        subject.save(update_fields=["study_status", "study_status_on"])
        action = "subject.status_changed"
    else:
        old = subject.treatment_status
        subject.treatment_status, subject.treatment_status_on = new, on
        subject.off_treatment_reason = reason if new == TreatmentStatus.OFF_TREATMENT else ""
        subject.save(
            update_fields=["treatment_status", "treatment_status_on", "off_treatment_reason"]
        )
        action = "subject.treatment_status_changed"
    StatusChange.objects.create(
        subject=subject, track=track, old=old, new=new, on=on, reason=reason
    )
    audit_record(
        actor=actor,
        action=action,
        target=subject,
        old={"status": old},
        new={"status": new, "on": on},
        reason=reason,
        chain=subject.study.audit_chain,
    )


# --- settings -------------------------------------------------------------------------------


@transaction.atomic
def subject_settings_set(
    *,
    actor: Actor,
    study: Study,
    central_eligibility_review: bool,
    identity_vault: bool,
    treatment_events: list[str] | None = None,
) -> SubjectSettings:
    """Set a study's subject options; the vault cannot be turned off once it holds identities."""
    _require(actor, Action.MANAGE_STUDY, study=study, site=None)
    events = list(treatment_events or [])
    if events:
        known = {event.name for event in _definition(study).events}
        unknown = [name for name in events if name not in known]
        if unknown:
            raise _refusal(
                "treatment_events",
                _("the study has no event %(event)s.") % {"event": repr(unknown[0])},
            )
    current = subject_settings(study)
    if (
        current.identity_vault
        and not identity_vault
        and Identity.objects.filter(subject__study=study).exists()
    ):
        raise _refusal(
            "identity_vault",
            _("the vault already holds identities and cannot be turned off."),
        )
    old = {
        "central_eligibility_review": current.central_eligibility_review,
        "identity_vault": current.identity_vault,
        "treatment_events": current.treatment_events,
    }
    current.central_eligibility_review = central_eligibility_review
    current.identity_vault = identity_vault
    current.treatment_events = events
    current.save()
    audit_record(
        actor=actor,
        action="subject.settings_changed",
        target=current,
        old=old,
        new={
            "central_eligibility_review": central_eligibility_review,
            "identity_vault": identity_vault,
            "treatment_events": events,
        },
        chain=study.audit_chain,
    )
    schedule_rebuild(study=study)
    return current


def study_schedules_rebuild(*, actor: Actor, study: Study, stale_only: bool = False) -> int:
    """Plan again the stored schedules of a study's subjects on an operator's request, recorded
    in the study's audit chain; return how many subjects were planned.

    The rows are derived (the refreshes that follow each change record nothing), but a rebuild
    someone asked for is an act on the study: the trail says who ran it and when. The batches
    commit one by one, so the event is written once the last one has.
    """
    count = schedule_rebuild(study=study, stale_only=stale_only)
    audit_record(
        actor=actor,
        action="schedule.rebuilt",
        target=study,
        new={"subjects": count, "stale_only": stale_only},
        chain=study.audit_chain,
    )
    return count


# --- screening log and inclusion ------------------------------------------------------------


def _site_of_study(study: Study, site: StudySite) -> None:
    if site.study_id != study.pk:
        raise _refusal(
            "site",
            _("site %(site)s is not a site of %(study)s.")
            % {"site": site.code, "study": study.identifier},
        )


def _screening_number_free(site: StudySite, number: str, environment: str) -> None:
    if not number:
        return
    # Test lines number apart: a number used in test mode is still free in production.
    taken = {"site": site, "environment": environment, "screening_number": number}
    if ScreeningEntry.objects.filter(**taken).exists() or Subject.objects.filter(**taken).exists():
        raise _refusal(
            "screening_number",
            _("%(number)s is already used at site %(site)s.")
            % {"number": repr(number), "site": site.code},
        )


def _sex(value: str) -> str:
    if value not in Sex.values:
        raise _refusal(
            "sex",
            _("%(value)s is not one of %(values)s.")
            % {"value": repr(value), "values": ", ".join(Sex.values)},
        )
    return value


@transaction.atomic
def screening_entry_add(
    *,
    actor: Actor,
    study: Study,
    site: StudySite,
    screened_on: date,
    age: int,
    sex: str,
    reason_not_included: str,
    screening_number: str = "",
) -> ScreeningEntry:
    """Add an anonymous line to the screening log: a patient assessed and not included."""
    _require(actor, Action.INCLUDE_SUBJECT, study=study, site=site)
    _site_of_study(study, site)
    _not_future("screened_on", screened_on, site)
    if not 0 <= age <= 130:
        raise _refusal("age", _("%(age)s is not an age in years.") % {"age": age})
    _sex(sex)
    reason = reason_not_included.strip()
    if not reason:
        raise _refusal("reason_not_included", _("say why the patient was not included."))
    number = screening_number.strip()
    environment = environment_written(study)
    _screening_number_free(site, number, environment)
    entry = ScreeningEntry.objects.create(
        study=study,
        site=site,
        environment=environment,
        screening_number=number,
        screened_on=screened_on,
        age=age,
        sex=sex,
        reason_not_included=reason,
    )
    audit_record(
        actor=actor,
        action="subject.screening_entry_added",
        target=entry,
        new={
            "site": site.code,
            "screening_number": number,
            "screened_on": screened_on,
            "age": age,
            "sex": sex,
            "reason_not_included": reason,
            "environment": environment,
        },
        chain=study.audit_chain,
    )
    return entry


@dataclass(frozen=True)
class ConsentGiven:
    """The consent signed before inclusion."""

    form_version: str
    consented_on: date
    biobank: bool = False
    future_research: bool = False
    genetic_analysis: bool = False
    sharing: bool = False


class IneligibleError(ValidationError):
    """Eligibility failed; ``failed`` holds each criterion that did not hold, with its label."""

    def __init__(
        self, failed: list[CriterionResult], definition: StudyDefinition | None = None
    ) -> None:
        self.failed = failed
        listed = "; ".join(
            _("%(criterion)s (%(label)s): %(detail)s")
            % {
                "criterion": c.name,
                "label": c.label(),
                "detail": detail_text(c.detail, definition),
            }
            for c in failed
        )
        super().__init__(
            "eligibility: " + _("the patient is not eligible: %(criteria)s.") % {"criteria": listed}
        )


def subject_identifier_format(pattern: str, *, study: Study, site: StudySite, seq: int) -> str:
    """Return a subject identifier from the study's pattern (``{site}-{seq:03}``)."""
    try:
        identifier = pattern.format(
            site=site.code, seq=seq, study=study.identifier, centre=site.centre.code
        )
    except (KeyError, IndexError, ValueError) as error:
        raise _refusal(
            "subject_identifier",
            _("the study's pattern %(pattern)s cannot be filled in: %(error)s.")
            % {"pattern": repr(pattern), "error": error},
        ) from error
    if not identifier or len(identifier) > 40:
        raise _refusal(
            "subject_identifier",
            _("%(identifier)s is not a usable identifier.") % {"identifier": repr(identifier)},
        )
    return identifier


def _next_identifier(
    study: Study, site: StudySite, pattern: str, environment: str
) -> tuple[str, int]:
    if "{seq" not in pattern:
        raise _refusal(
            "subject_identifier",
            _("the study's pattern %(pattern)s has no {seq}: identifiers would repeat.")
            % {"pattern": repr(pattern)},
        )
    scope = site.code if "{site" in pattern else ""
    # As for audit chains: create the counter row once, then lock it so that concurrent
    # inclusions take numbers one after another (SQLite's IMMEDIATE transactions serialise).
    IdentifierCounter.objects.bulk_create(
        [IdentifierCounter(study=study, environment=environment, scope=scope, last=0)],
        ignore_conflicts=True,
    )
    counter = IdentifierCounter.objects.select_for_update().get(
        study=study, environment=environment, scope=scope
    )
    seq = counter.last
    while True:
        seq += 1
        identifier = subject_identifier_format(pattern, study=study, site=site, seq=seq)
        if not Subject.objects.filter(
            study=study, environment=environment, identifier=identifier
        ).exists():
            break
    counter.last = seq
    counter.save(update_fields=["last"])
    return identifier, seq


@transaction.atomic
def subject_include(
    *,
    actor: Actor,
    study: Study,
    site: StudySite,
    included_on: date,
    eligibility: dict[str, Any],
    consent: ConsentGiven,
    sex: str = Sex.UNKNOWN,
    age: int | None = None,
    screening_number: str = "",
    casebook: bool = True,
) -> Subject:
    """Include a patient at an activated site once every eligibility criterion holds.

    Where the study asks for a central eligibility review, the subject stays screened (with
    an identifier) until the medical reviewer approves. The answers the study maps to casebook
    items (`registration:`) are written there through the save pipeline, in this transaction
    (at approval for a reviewed inclusion); ``casebook=False`` is for a caller that writes the
    whole casebook itself (the demo generator), so nothing is written twice.
    """
    _require(actor, Action.INCLUDE_SUBJECT, study=study, site=site)
    _site_of_study(study, site)
    if study.mode == StudyMode.FROZEN:
        raise ValidationError(
            _("%(study)s is frozen: nobody can be included.") % {"study": study.identifier}
        )
    if study.mode == StudyMode.LOCKED:
        raise ValidationError(
            _("%(study)s is locked: nobody can be included.") % {"study": study.identifier}
        )
    definition = _definition(study)
    if site.activated_on is None:
        raise _refusal(
            "site",
            _("site %(site)s is not activated: nobody can be included.") % {"site": site.code},
        )
    if included_on < site.activated_on:
        raise _refusal(
            "included_on",
            _("site %(site)s was activated on %(activated)s, after %(date)s.")
            % {
                "site": site.code,
                "activated": site.activated_on.isoformat(),
                "date": included_on.isoformat(),
            },
        )
    _not_future("included_on", included_on, site)
    _sex(sex)
    if age is not None and not 0 <= age <= 130:
        raise _refusal("age", _("%(age)s is not an age in years.") % {"age": age})
    form_version = consent.form_version.strip()
    if not form_version:
        raise _refusal("consent.form_version", _("give the version of the consent form."))
    _not_future("consent.consented_on", consent.consented_on, site)
    if consent.consented_on > included_on:
        raise _refusal(
            "consent.consented_on",
            _("consent (%(consent)s) must come before inclusion (%(inclusion)s).")
            % {"consent": consent.consented_on.isoformat(), "inclusion": included_on.isoformat()},
        )
    number = screening_number.strip()
    environment = environment_written(study)
    _screening_number_free(site, number, environment)
    answers = RegistrationAnswers(
        sex=sex,
        age=age,
        inclusion_date=included_on,
        consent_date=consent.consented_on,
        consent_version=form_version,
        biobank_consent=consent.biobank,
        future_research_consent=consent.future_research,
    )
    eligibility = _with_answers(definition, eligibility, answers)
    results = evaluate_criteria(definition, eligibility, clock=lambda: included_on)
    failed = [result for result in results if not result.met]
    if failed:
        raise IneligibleError(failed, definition)

    review = subject_settings(study).central_eligibility_review
    identifier, seq = _next_identifier(study, site, definition.subject_identifier, environment)
    status = StudyStatus.SCREENED if review else StudyStatus.INCLUDED
    subject = Subject.objects.create(
        study=study,
        site=site,
        environment=environment,
        identifier=identifier,
        sequence=seq,
        screening_number=number,
        sex=sex,
        age_at_inclusion=age,
        included_on=included_on,
        study_status=status,
        study_status_on=included_on,
        eligibility_review=(
            EligibilityReviewStatus.PENDING if review else EligibilityReviewStatus.NOT_REQUIRED
        ),
        eligibility={
            "values": dict(eligibility),
            "criteria": [result.as_json() for result in results],
        },
        last_news_on=included_on,
    )
    StatusChange.objects.create(
        subject=subject, track=StatusChange.Track.STUDY, old="", new=status, on=included_on
    )
    Consent.objects.create(
        subject=subject,
        form_version=form_version,
        consented_on=consent.consented_on,
        biobank=consent.biobank,
        future_research=consent.future_research,
        genetic_analysis=consent.genetic_analysis,
        sharing=consent.sharing,
    )
    audit_record(
        actor=actor,
        action="subject.included",
        target=subject,
        new={
            "identifier": identifier,
            "environment": environment,
            "site": site.code,
            "included_on": included_on,
            "status": status,
            "screening_number": number,
            "sex": sex,
            "age": age,
            "eligibility": subject.eligibility,
            "consent": {
                "form_version": form_version,
                "consented_on": consent.consented_on,
                "biobank": consent.biobank,
                "future_research": consent.future_research,
                "genetic_analysis": consent.genetic_analysis,
                "sharing": consent.sharing,
            },
        },
        chain=study.audit_chain,
    )
    if casebook:
        writes = casebook_values(definition, answers, eligibility)
        if status == StudyStatus.INCLUDED:
            _casebook_write(actor=actor, subject=subject, definition=definition, writes=writes)
        elif writes:
            # Nothing is entered before the review approves: the answers wait in the subject's
            # registration record, and the approval writes them in the includer's name.
            subject.eligibility["registration"] = {
                "answers": {
                    "sex": sex,
                    "age": age,
                    "inclusion_date": included_on.isoformat(),
                    "consent_date": consent.consented_on.isoformat(),
                    "consent_version": form_version,
                    "biobank_consent": consent.biobank,
                    "future_research_consent": consent.future_research,
                },
                "included_by": actor.pk if isinstance(actor, User) else None,
            }
            subject.save(update_fields=["eligibility"])
    _refresh_last_news(subject)
    schedule_refresh(subject=subject)
    return subject


@dataclass(frozen=True)
class ImportedSubject:
    """A subject an import registers: the identifier another system gave, its site, the day
    it was included there (None: today at the site)."""

    identifier: str
    site: StudySite
    included_on: date | None = None


def subject_import_refusal(actor: Actor, *, study: Study, site: StudySite) -> str | None:
    """Return why an import may not register subjects at ``site``, or None when it may."""
    if site.study_id != study.pk:
        return _("site %(site)s is not a site of %(study)s.") % {
            "site": site.code,
            "study": study.identifier,
        }
    if not isinstance(actor, SystemActor) and not may(
        actor, Action.INCLUDE_SUBJECT, study=study, site=site
    ):
        return _("you may not register subjects at site %(site)s.") % {"site": site.code}
    return None


@transaction.atomic
def subjects_import(
    *, actor: Actor, study: Study, subjects: Sequence[ImportedSubject], reason: str
) -> list[Subject]:
    """Register subjects an import names under the identifiers their files give (a migration
    from another system), included, without the inclusion wizard: their eligibility and
    consent were recorded where they come from. One audit event each, with the reason."""
    if not reason.strip():
        raise ValidationError(_("Say why you import these data: a reason is required."))
    if study.mode in {StudyMode.FROZEN, StudyMode.LOCKED}:
        raise ValidationError(
            _("%(study)s is frozen or locked: no subject can be registered.")
            % {"study": study.identifier}
        )
    environment = environment_written(study)
    taken = set(
        Subject.objects.filter(
            study=study, environment=environment, identifier__in=[s.identifier for s in subjects]
        ).values_list("identifier", flat=True)
    )
    sequence = (
        Subject.objects.filter(study=study, environment=environment).aggregate(
            last=Max("sequence")
        )["last"]
        or 0
    )
    created: list[Subject] = []
    for imported in subjects:
        refusal = subject_import_refusal(actor, study=study, site=imported.site)
        if refusal:
            raise _refusal("site", refusal)
        if imported.identifier in taken:
            raise _refusal(
                "identifier",
                _("%(identifier)s is already a subject of %(study)s.")
                % {"identifier": imported.identifier, "study": study.identifier},
            )
        included_on = imported.included_on or site_today(imported.site)
        _not_future("included_on", included_on, imported.site)
        sequence += 1
        taken.add(imported.identifier)
        subject = Subject.objects.create(
            study=study,
            site=imported.site,
            environment=environment,
            identifier=imported.identifier,
            sequence=sequence,
            included_on=included_on,
            study_status=StudyStatus.INCLUDED,
            study_status_on=included_on,
            last_news_on=included_on,
        )
        StatusChange.objects.create(
            subject=subject,
            track=StatusChange.Track.STUDY,
            old="",
            new=StudyStatus.INCLUDED,
            on=included_on,
        )
        created.append(subject)
    audit_record_many(
        actor=actor,
        entries=[
            AuditEntry(
                action="subject.imported",
                target=subject,
                new={
                    "identifier": subject.identifier,
                    "environment": environment,
                    "site": subject.site.code,
                    "included_on": subject.included_on,
                    "status": StudyStatus.INCLUDED,
                },
                reason=reason.strip(),
            )
            for subject in created
        ],
        chain=study.audit_chain,
    )
    for subject in created:
        schedule_refresh(subject=subject)
    return created


def _with_answers(
    definition: StudyDefinition, eligibility: dict[str, Any], answers: RegistrationAnswers
) -> dict[str, Any]:
    """Return the eligibility values with those the wizard's own questions give.

    An eligibility value that contradicts the question it also answers is refused: the casebook
    would otherwise hold one and the criteria have read the other."""
    merged = dict(eligibility)
    for key, value in eligibility_from_answers(definition, answers).items():
        name = key.rsplit(".", 1)[-1]
        given = merged.get(key, merged.get(name))
        if given is not None and str(given) != str(value):
            raise _refusal(
                f"eligibility.{key}",
                _("%(given)s differs from the answer %(value)s given for %(field)s.")
                % {
                    "given": repr(given),
                    "value": repr(value),
                    "field": registration_field(definition, name),
                },
            )
        merged.pop(name, None)
        merged[key] = value
    return merged


def _casebook_write(
    *, actor: Actor, subject: Subject, definition: StudyDefinition, writes: list[Any]
) -> None:
    """Write the registration values into the casebook; a refusal names the inclusion's field."""
    try:
        casebook_write(actor=actor, subject=subject, writes=writes)
    except CasebookRefusal as error:
        item, why = next(iter(error.errors.items()))
        raise _refusal(registration_field(definition, item), why) from error


def _store_document(name: str, content: bytes) -> tuple[str, str]:
    """Keep an uploaded document under the data directory by its hash; return (hash, path)."""
    if len(content) > DOCUMENT_MAX_BYTES:
        raise _refusal(
            "document",
            _("%(name)s is larger than %(limit)s MB.")
            % {"name": repr(name), "limit": DOCUMENT_MAX_BYTES // (1024 * 1024)},
        )
    suffix = next((s for magic, s in DOCUMENT_TYPES.items() if content.startswith(magic)), None)
    if suffix is None:
        raise _refusal(
            "document", _("%(name)s is not a PDF, PNG or JPEG file.") % {"name": repr(name)}
        )
    digest = sha256_hex(content)
    relative = Path("eligibility") / f"{digest}{suffix}"
    path = Path(settings.MEDIA_ROOT) / relative
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # Named by its hash, so a rolled-back review leaves at most an unreferenced copy.
        path.write_bytes(content)
    return digest, str(relative)


@transaction.atomic
def eligibility_review_decide(
    *,
    actor: Actor,
    subject: Subject,
    approved: bool,
    comment: str,
    document_name: str = "",
    document: bytes | None = None,
) -> EligibilityReview:
    """Record the medical reviewer's decision: approval includes the subject, rejection makes
    a screen failure."""
    _require(actor, Action.REVIEW_ELIGIBILITY, study=subject.study, site=subject.site)
    _in_current_environment(subject)
    subject = Subject.objects.select_for_update().get(pk=subject.pk)
    if subject.eligibility_review != EligibilityReviewStatus.PENDING:
        raise _refusal(
            "eligibility_review",
            _("%(subject)s has no eligibility review waiting (review %(review)s).")
            % {"subject": subject.identifier, "review": subject.get_eligibility_review_display()},
        )
    text = comment.strip()
    if not text:
        raise _refusal("comment", _("say why eligibility is approved or rejected."))
    digest, path = _store_document(document_name, document) if document else ("", "")
    decided_on = site_today(subject.site)
    new_status = StudyStatus.INCLUDED if approved else StudyStatus.SCREEN_FAILURE
    check_study_move(subject.study_status, new_status)
    review = EligibilityReview.objects.create(
        subject=subject,
        approved=approved,
        comment=text,
        reviewer_id=actor.pk if isinstance(actor, User) else None,
        document_name=document_name[:200],
        document_sha256=digest,
        document_path=path,
        decided_on=decided_on,
    )
    subject.eligibility_review = (
        EligibilityReviewStatus.APPROVED if approved else EligibilityReviewStatus.REJECTED
    )
    subject.save(update_fields=["eligibility_review"])
    audit_record(
        actor=actor,
        action="subject.eligibility_reviewed",
        target=subject,
        old={"review": EligibilityReviewStatus.PENDING},
        new={
            "review": subject.eligibility_review,
            "document": {"name": document_name, "sha256": digest} if digest else None,
        },
        reason=text,
        chain=subject.study.audit_chain,
    )
    _status_move(
        actor=actor,
        subject=subject,
        track=StatusChange.Track.STUDY,
        new=new_status,
        on=decided_on,
        reason=text,
    )
    if approved:
        _casebook_write_on_approval(subject)
    schedule_refresh(subject=subject)
    return review


def _casebook_write_on_approval(subject: Subject) -> None:
    """Write the registration values kept while the review was pending, as their includer."""
    waiting = subject.eligibility.get("registration")
    if not waiting or waiting.get("included_by") is None:
        return
    definition = _definition(subject.study)
    saved = waiting["answers"]
    answers = RegistrationAnswers(
        sex=saved["sex"],
        age=saved["age"],
        inclusion_date=date.fromisoformat(saved["inclusion_date"]),
        consent_date=date.fromisoformat(saved["consent_date"]),
        consent_version=saved["consent_version"],
        biobank_consent=saved["biobank_consent"],
        future_research_consent=saved["future_research_consent"],
    )
    writes = casebook_values(definition, answers, subject.eligibility.get("values", {}))
    includer = User.objects.get(pk=waiting["included_by"])
    _casebook_write(actor=includer, subject=subject, definition=definition, writes=writes)


# --- consent --------------------------------------------------------------------------------


@transaction.atomic
def consent_record(
    *,
    actor: Actor,
    subject: Subject,
    form_version: str,
    consented_on: date,
    biobank: bool = False,
    future_research: bool = False,
    genetic_analysis: bool = False,
    sharing: bool = False,
) -> Consent:
    """Record a new consent form signed by an included subject (an amended version, or a change
    to the optional consents)."""
    _require(actor, Action.RECORD_CONSENT, study=subject.study, site=subject.site)
    _in_current_environment(subject)
    version = form_version.strip()
    if not version:
        raise _refusal("form_version", _("give the version of the consent form."))
    _not_future("consented_on", consented_on, subject.site)
    refusal = entry_refusal(subject, on=consented_on)
    if refusal:
        raise ValidationError(f"consented_on: {refusal}.")
    latest = subject.consents.order_by("-consented_on").first()
    if latest is not None and consented_on < latest.consented_on:
        raise _refusal(
            "consented_on",
            _("%(date)s is before the latest consent (%(latest)s).")
            % {"date": consented_on.isoformat(), "latest": latest.consented_on.isoformat()},
        )
    consent = Consent.objects.create(
        subject=subject,
        form_version=version,
        consented_on=consented_on,
        biobank=biobank,
        future_research=future_research,
        genetic_analysis=genetic_analysis,
        sharing=sharing,
    )
    audit_record(
        actor=actor,
        action="subject.consent_recorded",
        target=subject,
        old=(
            {
                "form_version": latest.form_version,
                "biobank": latest.biobank,
                "future_research": latest.future_research,
                "genetic_analysis": latest.genetic_analysis,
                "sharing": latest.sharing,
            }
            if latest
            else None
        ),
        new={
            "form_version": version,
            "consented_on": consented_on,
            "biobank": biobank,
            "future_research": future_research,
            "genetic_analysis": genetic_analysis,
            "sharing": sharing,
        },
        chain=subject.study.audit_chain,
    )
    _refresh_last_news(subject)
    return consent


@transaction.atomic
def consent_withdraw(
    *, actor: Actor, subject: Subject, kind: str, withdrawn_on: date, reason: str = ""
) -> Withdrawal:
    """Record a withdrawal of consent and apply its effect on the statuses.

    treatment: treatment stops (reason "consent withdrawn"), follow-up goes on.
    follow_up: the subject is withdrawn; data dated up to that day may still be entered.
    data_use: the subject is withdrawn and nothing more may be entered.
    """
    _require(actor, Action.RECORD_CONSENT, study=subject.study, site=subject.site)
    _in_current_environment(subject)
    subject = Subject.objects.select_for_update().get(pk=subject.pk)
    if kind not in WithdrawalKind.values:
        raise _refusal(
            "kind",
            _("%(value)s is not one of %(values)s.")
            % {"value": repr(kind), "values": ", ".join(WithdrawalKind.values)},
        )
    _not_future("withdrawn_on", withdrawn_on, subject.site)
    if withdrawn_on < subject.included_on:
        raise _refusal("withdrawn_on", _before_inclusion(withdrawn_on, subject))
    if _withdrawn(subject, kind) is not None:
        # One sentence per kind: French names each withdrawal in its own words.
        recorded = {
            WithdrawalKind.TREATMENT: _("this withdrawal (treatment) is already recorded."),
            WithdrawalKind.FOLLOW_UP: _("this withdrawal (follow_up) is already recorded."),
            WithdrawalKind.DATA_USE: _("this withdrawal (data_use) is already recorded."),
        }
        raise _refusal("kind", recorded[WithdrawalKind(kind)])
    if _withdrawn(subject, WithdrawalKind.DATA_USE) is not None:
        raise _refusal("kind", _("the subject already objected to any further use of data."))
    on_treatment = subject.treatment_status != TreatmentStatus.OFF_TREATMENT
    leaves = kind in {WithdrawalKind.FOLLOW_UP, WithdrawalKind.DATA_USE}
    if kind == WithdrawalKind.TREATMENT:
        if not on_treatment:
            raise _refusal("kind", _("the subject's treatment has already stopped."))
        check_treatment_move(
            subject.treatment_status,
            TreatmentStatus.OFF_TREATMENT,
            study_status=subject.study_status,
            reason=OffTreatmentReason.CONSENT_WITHDRAWN,
        )
    elif kind == WithdrawalKind.FOLLOW_UP:
        check_study_move(subject.study_status, StudyStatus.WITHDRAWN)
    # An objection to data use is honoured whatever the status; it withdraws a followed subject.
    for field, day, why in (
        (
            "study",
            subject.study_status_on,
            _("%(date)s is before the last study status change (%(last)s)."),
        ),
        (
            "treatment",
            subject.treatment_status_on,
            _("%(date)s is before the last treatment status change (%(last)s)."),
        ),
    ):
        if day is not None and withdrawn_on < day and (leaves or field == "treatment"):
            raise _refusal(
                "withdrawn_on",
                why % {"date": withdrawn_on.isoformat(), "last": day.isoformat()},
            )
    withdrawal = Withdrawal.objects.create(
        subject=subject, kind=kind, withdrawn_on=withdrawn_on, reason=reason.strip()
    )
    audit_record(
        actor=actor,
        action="subject.consent_withdrawn",
        target=subject,
        new={"kind": kind, "withdrawn_on": withdrawn_on},
        reason=reason.strip(),
        chain=subject.study.audit_chain,
    )
    note = StatusReason.of_withdrawal(kind)
    if on_treatment and subject.study_status in ACTIVE:
        _status_move(
            actor=actor,
            subject=subject,
            track=StatusChange.Track.TREATMENT,
            new=TreatmentStatus.OFF_TREATMENT,
            on=withdrawn_on,
            reason=OffTreatmentReason.CONSENT_WITHDRAWN,
        )
    if kind == WithdrawalKind.TREATMENT and subject.study_status == StudyStatus.INCLUDED:
        _status_move(
            actor=actor,
            subject=subject,
            track=StatusChange.Track.STUDY,
            new=StudyStatus.IN_FOLLOW_UP,
            on=withdrawn_on,
            reason=note,
        )
    if leaves and StudyStatus.WITHDRAWN in _moves_from(subject.study_status):
        _status_move(
            actor=actor,
            subject=subject,
            track=StatusChange.Track.STUDY,
            new=StudyStatus.WITHDRAWN,
            on=withdrawn_on,
            reason=note,
        )
    _refresh_last_news(subject)
    schedule_refresh(subject=subject)
    return withdrawal


def _moves_from(status: str) -> frozenset[str]:
    return STUDY_MOVES.get(status, frozenset())


# --- statuses -------------------------------------------------------------------------------


def _before_inclusion(day: date, subject: Subject) -> str:
    return _("%(date)s is before inclusion (%(inclusion)s).") % {
        "date": day.isoformat(),
        "inclusion": subject.included_on.isoformat(),
    }


def _date_after_history(field: str, on: date, subject: Subject, last: date | None) -> None:
    _not_future(field, on, subject.site)
    if on < subject.included_on:
        raise _refusal(field, _before_inclusion(on, subject))
    if last is not None and on < last:
        raise _refusal(
            field,
            _("%(date)s is before the last change (%(last)s).")
            % {"date": on.isoformat(), "last": last.isoformat()},
        )


@transaction.atomic
def subject_change_status(
    *, actor: Actor, subject: Subject, status: str, on: date, reason: str = ""
) -> Subject:
    """Move the subject's study status along its state machine."""
    _require(actor, Action.CHANGE_STATUS, study=subject.study, site=subject.site)
    _in_current_environment(subject)
    subject = Subject.objects.select_for_update().get(pk=subject.pk)
    if status in REVIEW_ONLY and subject.study_status == StudyStatus.SCREENED:
        raise _refusal(
            "status",
            _(
                "inclusion or screen failure of a screened subject is decided by the central "
                "eligibility review."
            ),
        )
    check_study_move(subject.study_status, status)
    _date_after_history("on", on, subject, subject.study_status_on)
    text = reason.strip()
    if status == StudyStatus.WITHDRAWN and not text:
        raise _refusal("reason", _("say why the subject is withdrawn."))
    if status == StudyStatus.LOST_TO_FOLLOW_UP and not text:
        raise _refusal("reason", _("say why the subject is lost to follow up."))
    on_treatment = subject.treatment_status == TreatmentStatus.ON_TREATMENT
    if on_treatment and status != StudyStatus.DECEASED:
        raise _refusal(
            "status",
            _("the subject is still on treatment; record when and why treatment stopped first."),
        )
    if on_treatment:  # death ends treatment on the same day
        _date_after_history("on", on, subject, subject.treatment_status_on)
        _status_move(
            actor=actor,
            subject=subject,
            track=StatusChange.Track.TREATMENT,
            new=TreatmentStatus.OFF_TREATMENT,
            on=on,
            reason=OffTreatmentReason.DEATH,
        )
    _status_move(
        actor=actor, subject=subject, track=StatusChange.Track.STUDY, new=status, on=on, reason=text
    )
    _refresh_last_news(subject)
    schedule_refresh(subject=subject)
    return subject


@transaction.atomic
def subject_change_treatment(
    *, actor: Actor, subject: Subject, status: str, on: date, reason: str = ""
) -> Subject:
    """Move the subject's treatment status; stopping treatment puts an included subject in
    follow-up, it does not take them out of the study."""
    _require(actor, Action.CHANGE_STATUS, study=subject.study, site=subject.site)
    _in_current_environment(subject)
    subject = Subject.objects.select_for_update().get(pk=subject.pk)
    check_treatment_move(
        subject.treatment_status, status, study_status=subject.study_status, reason=reason
    )
    _date_after_history("on", on, subject, subject.treatment_status_on)
    refusal = entry_refusal(subject, on=on)
    if refusal:
        raise ValidationError(f"on: {refusal}.")
    _status_move(
        actor=actor,
        subject=subject,
        track=StatusChange.Track.TREATMENT,
        new=status,
        on=on,
        reason=reason if status == TreatmentStatus.OFF_TREATMENT else "",
    )
    if status == TreatmentStatus.OFF_TREATMENT and subject.study_status == StudyStatus.INCLUDED:
        _date_after_history("on", on, subject, subject.study_status_on)
        _status_move(
            actor=actor,
            subject=subject,
            track=StatusChange.Track.STUDY,
            new=StudyStatus.IN_FOLLOW_UP,
            on=on,
            reason=StatusReason.TREATMENT_STOPPED,
        )
    _refresh_last_news(subject)
    schedule_refresh(subject=subject)
    return subject


# --- visits, news, transfer ----------------------------------------------------------------


@transaction.atomic
def visit_record(
    *, actor: Actor, subject: Subject, event: str, visit_on: date, occurrence: int | None = None
) -> Visit:
    """Record the actual date of an event occurrence (the next one when no number is given)."""
    return visits_record(actor=actor, subject=subject, visits=[(event, visit_on, occurrence)])[0]


# One visit to record: its event, its date and its occurrence (None: the next one).
VisitToRecord = tuple[str, date, int | None]


@transaction.atomic
def visits_record(
    *, actor: Actor, subject: Subject, visits: Sequence[VisitToRecord]
) -> list[Visit]:
    """Record the actual dates of several event occurrences of one subject, in order.

    What `visit_record` one after another gives (the same checks, visits and audit events), with
    the date of last news recounted and the schedule planned once for all, not once per visit:
    a patient's history entered at once (the demo, a migration)."""
    if not visits:
        return []
    _require(actor, Action.ENTER_DATA, study=subject.study, site=subject.site)
    _in_current_environment(subject)
    subject = Subject.objects.select_for_update().get(pk=subject.pk)
    definition = _definition(subject.study)
    first_consent = _first_consent_on(subject)
    limits = EntryLimits.of(subject)  # recording visits changes no withdrawal
    taken: dict[str, set[int]] = {}
    for event_name, number in subject.visits.values_list("event", "occurrence"):
        taken.setdefault(event_name, set()).add(number)
    created: list[Visit] = []
    entries: list[AuditEntry] = []
    for event, visit_on, occurrence in visits:
        number = _visit_checked(
            subject,
            definition,
            event=event,
            visit_on=visit_on,
            occurrence=occurrence,
            first_consent=first_consent,
            limits=limits,
            taken=taken.setdefault(event, set()),
        )
        taken[event].add(number)
        created.append(Visit(subject=subject, event=event, occurrence=number, visit_on=visit_on))
        entries.append(
            AuditEntry(
                action="subject.visit_recorded",
                target=subject,
                new={"event": event, "occurrence": number, "visit_on": visit_on},
            )
        )
    if len(created) == 1:
        created[0].save()
    else:
        created = Visit.objects.bulk_create(created)
    audit_record_many(actor=actor, entries=entries, chain=subject.study.audit_chain)
    _refresh_last_news(subject)
    schedule_refresh(subject=subject)
    return created


def _visit_checked(
    subject: Subject,
    definition: StudyDefinition,
    *,
    event: str,
    visit_on: date,
    occurrence: int | None,
    first_consent: date | None,
    limits: EntryLimits,
    taken: set[int],
) -> int:
    """Return the occurrence number a visit takes, or refuse it (naming the field)."""
    found = definition.event(event)
    if found is None:
        raise _refusal("event", _("the study has no event %(event)s.") % {"event": repr(event)})
    _not_future("visit_on", visit_on, subject.site)
    refusal = limits.refusal(visit_on)
    if refusal:
        raise ValidationError(f"visit_on: {refusal}.")
    if first_consent is not None and visit_on < first_consent:
        raise _refusal(
            "visit_on",
            _(
                "%(date)s is before the subject's consent (%(consent)s); no study visit may "
                "precede consent."
            )
            % {"date": visit_on.isoformat(), "consent": first_consent.isoformat()},
        )
    number = occurrence if occurrence is not None else max(taken, default=0) + 1
    if number < 1:
        raise _refusal(
            "occurrence", _("%(number)s is not an occurrence number.") % {"number": number}
        )
    if not found.repeating and number != 1:
        raise _refusal("occurrence", _("%(event)s takes place once.") % {"event": event})
    if number in taken:
        raise _refusal(
            "occurrence",
            _("%(event)s #%(number)s is already recorded.") % {"event": event, "number": number},
        )
    return number


@transaction.atomic
def news_record(*, actor: Actor, subject: Subject, news_on: date, source: str) -> News:
    """Record news of a subject (known alive on that day), from a call, a letter, a record."""
    _require(actor, Action.ENTER_DATA, study=subject.study, site=subject.site)
    _in_current_environment(subject)
    text = source.strip()
    if not text:
        raise _refusal("source", _("say where the news comes from."))
    _not_future("news_on", news_on, subject.site)
    if news_on < subject.included_on:
        raise _refusal("news_on", _before_inclusion(news_on, subject))
    refusal = entry_refusal(subject, on=news_on)
    if refusal:
        raise ValidationError(f"news_on: {refusal}.")
    news = News.objects.create(subject=subject, news_on=news_on, source=text)
    audit_record(
        actor=actor,
        action="subject.news_recorded",
        target=subject,
        new={"news_on": news_on, "source": text},
        chain=subject.study.audit_chain,
    )
    _refresh_last_news(subject)
    return news


@transaction.atomic
def subject_transfer(
    *, actor: Actor, subject: Subject, to_site: StudySite, on: date, reason: str
) -> Subject:
    """Move a subject to another activated site of the study; the identifier does not change."""
    _require(actor, Action.TRANSFER_SUBJECT, study=subject.study, site=subject.site)
    _in_current_environment(subject)
    _require(actor, Action.TRANSFER_SUBJECT, study=subject.study, site=to_site)
    subject = Subject.objects.select_for_update().get(pk=subject.pk)
    from_site = subject.site
    _site_of_study(subject.study, to_site)
    if to_site.pk == from_site.pk:
        raise _refusal(
            "site",
            _("%(subject)s is already at site %(site)s.")
            % {"subject": subject.identifier, "site": to_site.code},
        )
    if to_site.activated_on is None or to_site.activated_on > on:
        raise _refusal(
            "site",
            _("site %(site)s is not activated on %(date)s.")
            % {"site": to_site.code, "date": on.isoformat()},
        )
    _date_after_history("on", on, subject, None)
    text = reason.strip()
    if not text:
        raise _refusal("reason", _("say why the subject moves to another site."))
    Transfer.objects.create(
        subject=subject, from_site=from_site, to_site=to_site, transferred_on=on, reason=text
    )
    subject.site = to_site
    subject.save(update_fields=["site"])
    audit_record(
        actor=actor,
        action="subject.transferred",
        target=subject,
        old={"site": from_site.code},
        new={"site": to_site.code, "on": on},
        reason=text,
        chain=subject.study.audit_chain,
    )
    _refresh_last_news(subject)
    return subject


# --- identity vault -------------------------------------------------------------------------


def _require_identity_access(actor: Actor, subject: Subject) -> bool:
    """Refuse unless the actor is staff of the subject's own site (never a central role, never
    a command); return whether the study keeps identities at all."""
    if isinstance(actor, SystemActor):
        raise PermissionDenied(_("Identities are shown only to the subject's site."))
    scope = site_scope(actor, Action.VIEW_IDENTITY, study=subject.study)
    if scope.all_sites or not scope.allows(subject.site):
        raise PermissionDenied(_("Identities are shown only to the subject's site."))
    return subject_settings(subject.study).identity_vault


@transaction.atomic
def identity_set(*, actor: Actor, subject: Subject, values: dict[str, str | None]) -> None:
    """Store the subject's identity, encrypted; the audit event says which fields changed,
    never their values."""
    if not _require_identity_access(actor, subject):
        raise ValidationError(
            _("%(study)s keeps no identities (no vault).") % {"study": subject.study.identifier}
        )
    _in_current_environment(subject)
    unknown = [name for name in values if name not in vault.FIELDS]
    if unknown:
        raise _refusal(
            unknown[0],
            _("not an identity field (%(fields)s).") % {"fields": ", ".join(vault.FIELDS)},
        )
    cleaned = {name: (value or "").strip() for name, value in values.items()}
    if cleaned.get("birth_date"):
        try:
            birth = date.fromisoformat(cleaned["birth_date"])
        except ValueError as error:
            raise _refusal("birth_date", _("give a date as YYYY-MM-DD.")) from error
        _not_future("birth_date", birth, subject.site)
    current = Identity.objects.filter(subject=subject).first()
    old = vault.unseal(current.token) if current else {}
    new = {**old, **cleaned}
    changed = sorted(name for name in vault.FIELDS if old.get(name, "") != new.get(name, ""))
    if not changed:
        return
    if current is None:
        Identity.objects.create(subject=subject, token=vault.seal(new))
    else:
        current.token = vault.seal(new)
        current.save(update_fields=["token", "updated_at"])
    audit_record(
        actor=actor,
        action="subject.identity_changed",
        target=subject,
        new=dict.fromkeys(changed, "encrypted"),
        chain=subject.study.audit_chain,
    )


@transaction.atomic
def identity_reveal(*, actor: Actor, subject: Subject) -> dict[str, str] | None:
    """Return the subject's identity to their site's staff, and record that it was seen;
    None when the study keeps no identities."""
    if not _require_identity_access(actor, subject):
        return None
    current = Identity.objects.filter(subject=subject).first()
    values = vault.unseal(current.token) if current else {}
    audit_record(
        actor=actor,
        action="subject.identity_viewed",
        target=subject,
        chain=subject.study.audit_chain,
    )
    return {name: values.get(name, "") for name in vault.FIELDS}


# --- randomisation date ----------------------------------------------------------------------


def subject_randomisation_date_set(*, actor: Actor, subject: Subject, on: date) -> Subject:
    """Record the day the subject was randomised (the schedule's anchor) and plan it again.

    Called by the randomisation service inside its own transaction, once the allocation is made:
    the date is set once and never changed (the allocation stands, ICH E9). It holds no arm.
    """
    subject = Subject.objects.select_for_update().get(pk=subject.pk)
    if subject.randomised_on is not None:
        raise _refusal(
            "randomised_on",
            _("%(identifier)s was already randomised on %(date)s.")
            % {"identifier": subject.identifier, "date": subject.randomised_on.isoformat()},
        )
    subject.randomised_on = on
    subject.save(update_fields=["randomised_on"])
    audit_record(
        actor=actor,
        action="subject.randomised_on_set",
        target=subject,
        old={"randomised_on": None},
        new={"randomised_on": on},
        chain=subject.study.audit_chain,
    )
    schedule_refresh(subject=subject)
    return subject
