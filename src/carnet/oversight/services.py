"""Locks and signatures of collected data: the data manager locks and unlocks, the investigator
signs; the save pipeline's guard refuses writes to locked data and its listener voids the
signatures a change touches. Every lock, unlock, signature and void is an audit event."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _
from ninja.errors import HttpError

from carnet.accounts.models import StudySite, User
from carnet.accounts.permissions import Actor, require
from carnet.accounts.roles import Action
from carnet.accounts.signatures import signature_apply
from carnet.audit.services import AuditEntry, audit_record
from carnet.capture.models import FormInstance, ItemValue
from carnet.capture.seams import SaveRefused, WriteContext, WriteKind
from carnet.core.clock import utc_now
from carnet.core.errors import ValidationError
from carnet.oversight.models import DataLock, DataSignature, Scope
from carnet.oversight.selectors import lock_covering, signatures_covering_locked
from carnet.studies.models import Study
from carnet.subjects.models import Subject


class DataLocked(HttpError, SaveRefused):
    """A write refused because a lock covers its data: HTTP 423 (Locked) over the API, the
    same sentence on the page, in the person's language."""

    def __init__(self, message: str, *, place: str = "form") -> None:
        Exception.__init__(self, message)
        self.status_code = 423
        self.message = message
        self.place = place


@dataclass(frozen=True)
class Place:
    """What a lock or a signature covers: a scope and the keys it needs."""

    scope: str
    site: StudySite
    subject: Subject | None = None
    event: str = ""
    occurrence: int | None = None
    form: str = ""
    repeat: int | None = None

    def check(self) -> None:
        """Refuse a place whose keys do not fit its scope."""
        if self.scope not in Scope.values:
            raise ValidationError(_("Choose a scope: form, visit, subject or site."))
        if self.scope != Scope.SITE and self.subject is None:
            raise ValidationError(_("Name the subject."))
        if self.scope in {Scope.VISIT, Scope.FORM} and not (self.event and self.occurrence):
            raise ValidationError(_("Name the visit (event and occurrence)."))
        if self.scope == Scope.FORM and not self.form:
            raise ValidationError(_("Name the form."))

    def keys(self) -> dict[str, Any]:
        """Return the model fields of this place (the unused keys empty)."""
        deep = {Scope.FORM: 3, Scope.VISIT: 2, Scope.SUBJECT: 1, Scope.SITE: 0}[Scope(self.scope)]
        return {
            "scope": self.scope,
            "subject": self.subject if deep >= 1 else None,
            "event": self.event if deep >= 2 else "",
            "occurrence": self.occurrence if deep >= 2 else None,
            "form": self.form if deep >= 3 else "",
            "repeat": (self.repeat or 1) if deep >= 3 else None,
        }


def _audit_place(place: DataLock | DataSignature) -> dict[str, Any]:
    return {
        "scope": place.scope,
        "place": place.place(),
        "subject": place.subject.identifier if place.subject else None,
        "event": place.event,
        "occurrence": place.occurrence,
        "form": place.form,
        "repeat": place.repeat,
    }


def _label(actor: Actor) -> str:
    return actor.display_name() if isinstance(actor, User) else actor.label


def _require(actor: Actor, action: Action, *, study: Study, site: StudySite) -> None:
    # A command run on the server (a system actor) acts for the installation's administrators.
    if isinstance(actor, User):
        require(actor, action, study=study, site=site)


def _reason(reason: str) -> str:
    reason = reason.strip()
    if not reason:
        raise ValidationError(_("reason: give a reason; it is kept in the audit trail."))
    return reason


# --- locks -------------------------------------------------------------------------------------


@transaction.atomic
def data_lock(*, actor: Actor, study: Study, place: Place, reason: str) -> DataLock:
    """Lock a form instance, a visit, a subject or a site's data, with a reason (audited)."""
    _require(actor, Action.MANAGE_DATA, study=study, site=place.site)
    place.check()
    reason = _reason(reason)
    keys = place.keys()
    if DataLock.objects.filter(study=study, site=place.site, unlocked_at__isnull=True, **keys):
        raise ValidationError(_("This place is already locked."))
    lock = DataLock.objects.create(
        study=study,
        site=place.site,
        reason=reason,
        locked_by=_label(actor),
        locked_at=utc_now(),
        **keys,
    )
    audit_record(
        actor=actor,
        action="data.locked",
        target=lock,
        new={**_audit_place(lock), "site": place.site.code},
        reason=reason,
        chain=study.audit_chain,
    )
    return lock


@transaction.atomic
def data_unlock(*, actor: Actor, lock: DataLock, reason: str) -> DataLock:
    """Lift a lock in force, with a reason (audited); the lock stays in the study's list."""
    _require(actor, Action.MANAGE_DATA, study=lock.study, site=lock.site)
    reason = _reason(reason)
    # Locking the lock's own row only: its subject is an outer join PostgreSQL cannot lock.
    lock = (
        DataLock.objects.select_for_update(of=("self",))
        .select_related("site", "subject", "study")
        .get(pk=lock.pk)
    )
    if not lock.in_force:
        raise ValidationError(_("This lock was already lifted."))
    lock.unlocked_by = _label(actor)
    lock.unlocked_at = utc_now()
    lock.unlock_reason = reason
    lock.save(update_fields=["unlocked_by", "unlocked_at", "unlock_reason"])
    audit_record(
        actor=actor,
        action="data.unlocked",
        target=lock,
        old={"locked_by": lock.locked_by, "reason": lock.reason},
        new={**_audit_place(lock), "site": lock.site.code},
        reason=reason,
        chain=lock.study.audit_chain,
    )
    return lock


def locked_data_refuses(context: WriteContext) -> None:
    """The save guard: refuse any write to data a lock in force covers (HTTP 423)."""
    instance = context.form_instance
    lock = lock_covering(
        context.subject, instance.event, instance.occurrence, instance.form, instance.repeat
    )
    if lock is None:
        return
    raise DataLocked(
        _(
            "These data are locked (%(place)s, by %(who)s: %(reason)s); nothing was written. "
            "Ask a data manager to unlock them."
        )
        % {"place": lock.place(), "who": lock.locked_by, "reason": lock.reason}
    )


# --- signatures --------------------------------------------------------------------------------


def signed_content(place: Place) -> list[Any]:
    """Return what a signature covers: every saved form instance of the place, its status and
    values (canonical text, missing code, removed), in a stable order."""
    instances = FormInstance.objects.filter(subject=place.subject).exclude(version=0)
    if place.scope in {Scope.VISIT, Scope.FORM}:
        instances = instances.filter(event=place.event, occurrence=place.occurrence or 1)
    if place.scope == Scope.FORM:
        instances = instances.filter(form=place.form, repeat=place.repeat or 1)
    instances = instances.order_by("environment", "event", "occurrence", "form", "repeat")
    values: dict[int, list[list[Any]]] = {}
    for value in (
        ItemValue.objects.filter(form_instance__in=instances)
        .order_by("form_instance_id", "item", "row")
        .values_list("form_instance_id", "item", "row", "text", "missing_code", "removed")
    ):
        values.setdefault(value[0], []).append(list(value[1:]))
    return [
        {
            "where": [i.environment, i.event, i.occurrence, i.form, i.repeat],
            "status": i.status,
            "values": values.get(i.pk, []),
        }
        for i in instances
    ]


def record_of(place: Place) -> tuple[str, str]:
    """Return the (record type, record id) an e-signature of this place binds to."""
    subject = place.subject
    assert subject is not None
    if place.scope == Scope.SUBJECT:
        return "oversight.casebook", f"{subject.pk}"
    if place.scope == Scope.VISIT:
        return "oversight.visit", f"{subject.pk}:{place.event}:{place.occurrence}"
    return (
        "oversight.form",
        f"{subject.pk}:{place.event}:{place.occurrence}:{place.form}:{place.repeat or 1}",
    )


def data_sign(
    *,
    actor: User,
    place: Place,
    password: str,
    meaning: str,
    totp_code: str = "",
) -> DataSignature:
    """Sign a form, a visit or a whole casebook with the investigator's e-signature.

    Only an investigator of the subject's site signs; the password (and authenticator code
    when enrolled) and a meaning from the study's list are checked by accounts, which audits
    the signature and any refused attempt.
    """
    subject = place.subject
    if subject is None:
        raise ValidationError(_("Name the subject."))
    study = subject.study
    require(actor, Action.SIGN_DATA, study=study, site=subject.site)
    if place.scope == Scope.SITE:
        raise ValidationError(_("Sign a form, a visit or a casebook."))
    place.check()
    content = signed_content(place)
    if not content:
        raise ValidationError(_("There is nothing saved here to sign."))
    keys = place.keys()
    if DataSignature.objects.filter(voided_at__isnull=True, **keys).exists():
        raise ValidationError(_("This is already signed; a change of its data voids it."))
    record_type, record_id = record_of(place)
    # Accounts checks and records the e-signature in its own transaction, so that a refused
    # attempt stays in the trail; what it covers is recorded next.
    signature = signature_apply(
        signer=actor,
        password=password,
        totp_code=totp_code,
        meaning=meaning,
        study=study,
        record_type=record_type,
        record_id=record_id,
        content=content,
    )
    with transaction.atomic():
        signed = DataSignature.objects.create(
            study=study,
            signature=signature,
            signed_at=signature.signed_at,
            signer_name=signature.signer_name,
            meaning=signature.meaning,
            **keys,
        )
        audit_record(
            actor=actor,
            action="data.signed",
            target=signed,
            new={
                **_audit_place(signed),
                "meaning": signature.meaning,
                "binding_hash": signature.binding_hash,
            },
            chain=study.audit_chain,
        )
    return signed


def signatures_void_on_change(context: WriteContext) -> None:
    """The save listener: a change of signed data needs a reason and voids the signatures that
    cover it (audited with the change's reason)."""
    if context.kind == WriteKind.SAVE and not context.changes:
        return
    instance = context.form_instance
    covering = signatures_covering_locked(
        context.subject, instance.event, instance.occurrence, instance.form, instance.repeat
    )
    if not covering:
        return
    if not context.reason:
        raise SaveRefused(
            _(
                "These data are signed by %(signer)s: give a reason for the change; it voids "
                "the signature."
            )
            % {"signer": covering[0].signer_name},
            place="reason",
        )
    now = utc_now()
    actor = context.actor
    label = actor.display_name() if isinstance(actor, User) else getattr(actor, "label", "")
    for signed in covering:
        signed.voided_at = now
        signed.voided_by = label
        signed.void_reason = context.reason
        signed.save(update_fields=["voided_at", "voided_by", "void_reason"])
        context.audit.append(
            AuditEntry(
                action="data.signature_voided",
                target=signed,
                old={"signer": signed.signer_name, "meaning": signed.meaning},
                new={**_audit_place(signed), "voided_by": label},
                reason=context.reason,
            )
        )


def locks_may_refuse(study_id: int, subject_ids: Sequence[int]) -> bool:
    """The lock guard's quick test for an import: False when no lock is in force in the study
    (one read instead of one per form instance)."""
    del subject_ids  # a site's lock covers subjects the import names only through their site
    return DataLock.objects.filter(study_id=study_id, unlocked_at__isnull=True).exists()


def signatures_void_on_change_many(contexts: Sequence[WriteContext]) -> None:
    """`signatures_void_on_change` on many writes (a wave of an import): one read finds the
    subjects with a valid signature; only their writes go through the listener."""
    subjects = sorted({c.subject.pk for c in contexts})
    signed: set[int] = set()
    for start in range(0, len(subjects), 5000):
        signed.update(
            DataSignature.objects.filter(
                voided_at__isnull=True, subject_id__in=subjects[start : start + 5000]
            ).values_list("subject_id", flat=True)
        )
    for context in contexts:
        if context.subject.pk in signed:
            signatures_void_on_change(context)
