"""Writes of the database lock: waive a checklist item with a reason, sign the lock in turn
(the last signature locks the study, with an archived, hashed snapshot), unlock with a signed
reason. Every one is an audit event of the study's chain.

Once locked, the save pipeline's guard (`study_locked_refuses`) refuses every write of the
study's captured data with 423, and randomisation's study unblinding is allowed
(`study_unblinding_refusal`, `database_lock_unblind`). An unlock after the study's unblinding
leaves the study unblinded: a blind once broken is not restored; the unlock's audit event says
so.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.utils.translation import gettext as _

from carnet.accounts.models import User
from carnet.accounts.permissions import Actor, PermissionDenied, site_scope
from carnet.accounts.roles import Action
from carnet.accounts.signatures import signature_apply
from carnet.audit.services import SystemActor, audit_record
from carnet.capture.seams import WriteContext
from carnet.core.clock import utc_now
from carnet.core.errors import ValidationError
from carnet.core.hashing import sha256_of_file
from carnet.database_lock.models import (
    STEPS,
    ChecklistWaiver,
    DatabaseLock,
    LockSignature,
    LockStatus,
    Step,
)
from carnet.database_lock.selectors import (
    ItemState,
    checklist_item_keys,
    checklist_state,
    current_lock,
    may_sign_step,
    next_step,
    signatures_of,
    study_is_locked,
)
from carnet.interop.exports import export_to_path
from carnet.interop.services import cutoff_create
from carnet.oversight.services import DataLocked
from carnet.randomization.models import StudyUnblinding
from carnet.randomization.study_unblinding import study_unblind
from carnet.studies.models import Study

RECORD_TYPE = "database_lock"


def step_name(step: str) -> str:
    """Return a step's name in the person's language."""
    names = {
        Step.DATA_MANAGER: _("data manager"),
        Step.STATISTICIAN: _("statistician"),
        Step.COORDINATING_INVESTIGATOR: _("coordinating investigator"),
        Step.SPONSOR: _("sponsor"),
    }
    return names[Step(step)]


def _label(actor: Actor) -> str:
    return actor.display_name() if isinstance(actor, User) else actor.label


def _reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError(_("reason: give a reason; it is kept in the audit trail."))
    return reason


def _require_data_manager(actor: Actor, study: Study) -> None:
    """Refuse anyone but a data manager of every site (a command run on the server may)."""
    if isinstance(actor, User) and not site_scope(actor, Action.MANAGE_DATA, study=study).all_sites:
        raise PermissionDenied(
            _("Only a data manager of the whole study may do this (%(study)s).")
            % {"study": study.identifier}
        )


def archive_folder() -> Path:
    """Return the folder of the snapshots taken at lock (under the data directory)."""
    return Path(settings.DATA_DIR) / "database_locks"


def _blocking_refusal(states: list[ItemState]) -> None:
    blocking = [state for state in states if state.blocking]
    if blocking:
        raise ValidationError(
            _("The checklist is not clear: %(items)s. Resolve or waive them first.")
            % {"items": "; ".join(f"{state.label} ({state.count})" for state in blocking)}
        )


# --- waivers -------------------------------------------------------------------------------------


@transaction.atomic
def checklist_waive(*, actor: Actor, study: Study, item: str, reason: str) -> ChecklistWaiver:
    """Waive an item of the checklist as it stands, with a reason (data managers; audited)."""
    _require_data_manager(actor, study)
    reason = _reason(reason)
    if item not in checklist_item_keys():
        raise ValidationError(
            _("item: %(item)r is not an item of the checklist (%(items)s).")
            % {"item": item, "items": ", ".join(checklist_item_keys())}
        )
    if study_is_locked(study.pk):
        raise ValidationError(_("The database is locked: its checklist no longer changes."))
    state = next((s for s in checklist_state(study) if s.key == item), None)
    if state is None or state.clear:
        raise ValidationError(_("This item is clear: there is nothing to waive."))
    now = utc_now()
    ChecklistWaiver.objects.filter(study=study, item=item, withdrawn_at__isnull=True).update(
        withdrawn_at=now
    )
    waiver = ChecklistWaiver.objects.create(
        study=study,
        item=item,
        count=state.count,
        reason=reason,
        waived_by=_label(actor),
        waived_at=now,
    )
    audit_record(
        actor=actor,
        action="database_lock.item_waived",
        target=waiver,
        new={"item": item, "count": state.count},
        reason=reason,
        chain=study.audit_chain,
    )
    return waiver


# --- signatures and lock ------------------------------------------------------------------------


def _step_check(actor: User, study: Study, lock: DatabaseLock | None) -> str:
    """Return the step the actor signs now; refuse one out of turn or not theirs."""
    if lock is not None and lock.status == LockStatus.LOCKED:
        raise ValidationError(
            _("%(study)s is already locked (%(name)s).")
            % {"study": study.identifier, "name": lock.name}
        )
    step = next_step(lock)
    if not may_sign_step(actor, study, step):
        raise PermissionDenied(
            _("The next signature of the database lock is the %(step)s's.")
            % {"step": step_name(step)}
        )
    if lock is not None and any(s.signer_id == actor.pk for s in lock.signatures.all()):
        raise ValidationError(
            _("You already signed this database lock: each step needs another person.")
        )
    return step


def _lock_number(study: Study, lock: DatabaseLock | None) -> int:
    if lock is not None:
        return lock.number
    latest = DatabaseLock.objects.filter(study=study).aggregate(Max("number"))["number__max"]
    return (latest or 0) + 1


def database_lock_sign(
    *, actor: User, study: Study, password: str, meaning: str, totp_code: str = ""
) -> DatabaseLock:
    """Sign the study's database lock at the next step (data manager, statistician,
    coordinating investigator, sponsor, in turn); the last signature locks the study.

    Refused while an item of the checklist is neither clear nor waived, out of turn, by
    someone who does not hold the step's role or who signed an earlier step.
    """
    lock = current_lock(study)
    step = _step_check(actor, study, lock)
    states = checklist_state(study)
    _blocking_refusal(states)
    number = _lock_number(study, lock)
    content = {
        "study": study.identifier,
        "lock": number,
        "step": step,
        "checklist": [state.as_json() for state in states],
    }
    # Accounts checks and records the e-signature in its own transaction, so that a refused
    # attempt stays in the trail; the lock's own rows follow, checked again under a lock.
    signature = signature_apply(
        signer=actor,
        password=password,
        totp_code=totp_code,
        meaning=meaning,
        study=study,
        record_type=RECORD_TYPE,
        record_id=f"{study.identifier}:{number}",
        content=content,
    )
    with transaction.atomic():
        Study.objects.select_for_update().filter(pk=study.pk).first()  # one signer at a time
        lock = current_lock(study)
        if step != _step_check(actor, study, lock) or _lock_number(study, lock) != number:
            raise ValidationError(_("Someone signed meanwhile; sign again."))
        if lock is None:
            lock = DatabaseLock.objects.create(
                study=study,
                number=number,
                status=LockStatus.SIGNING,
                started_by=_label(actor),
                started_at=signature.signed_at,
            )
        LockSignature.objects.create(
            lock=lock,
            step=step,
            signature=signature,
            signer_name=signature.signer_name,
            signer_id=actor.pk,
            meaning=signature.meaning,
            signed_at=signature.signed_at,
        )
        audit_record(
            actor=actor,
            action="database_lock.signed",
            target=lock,
            new={
                "lock": lock.name,
                "step": step,
                "meaning": signature.meaning,
                "binding_hash": signature.binding_hash,
            },
            chain=study.audit_chain,
        )
        if step == STEPS[-1]:
            _complete(actor, study, lock)
    return lock


def _complete(actor: User, study: Study, lock: DatabaseLock) -> None:
    """Lock the study: check the checklist once more, cut the data off at this point of the
    audit chain, archive the export made from that cut-off, and record their hashes."""
    states = checklist_state(study)
    _blocking_refusal(states)
    signers = ", ".join(s.signer_name for s in signatures_of(lock).values())
    system = SystemActor(label=f"database lock {lock.name} of {study.identifier}")
    cutoff = cutoff_create(
        actor=system,
        study=study,
        name=lock.name,
        reason=f"Database lock {lock.name}, signed by {signers}.",
    )
    folder = archive_folder()
    folder.mkdir(parents=True, exist_ok=True)
    archive = folder / f"{study.identifier}-{lock.name}.zip"
    # The archive holds every value, arm included: it is the data as they were at lock.
    made = export_to_path(
        actor=system,
        study=study,
        cutoff=cutoff,
        file_format="csv",
        output=archive,
        unblinded=True,
    )
    lock.status = LockStatus.LOCKED
    lock.locked_at = utc_now()
    lock.cutoff = cutoff
    lock.archive_name = archive.name
    lock.archive_sha256 = sha256_of_file(archive)
    lock.manifest_sha256 = made.manifest_sha256
    lock.audit_seq = cutoff.seq
    lock.audit_head_hash = cutoff.head_hash
    lock.checklist = [state.as_json() for state in states]
    lock.save()
    audit_record(
        actor=actor,
        action="database_lock.locked",
        target=lock,
        new={
            "lock": lock.name,
            "cutoff": cutoff.name,
            "audit_seq": cutoff.seq,
            "audit_head_hash": cutoff.head_hash,
            "archive_sha256": lock.archive_sha256,
            "manifest_sha256": lock.manifest_sha256,
            "checklist": lock.checklist,
        },
        chain=study.audit_chain,
    )


def database_lock_unlock(
    *,
    actor: User,
    study: Study,
    reason: str,
    password: str,
    meaning: str,
    totp_code: str = "",
) -> DatabaseLock:
    """Lift the study's database lock (or stop one under way) with a reason, under the data
    manager's e-signature; data may change again and the study's unblinding waits for the
    next lock."""
    _require_data_manager(actor, study)
    reason = _reason(reason)
    lock = current_lock(study)
    if lock is None:
        raise ValidationError(
            _("%(study)s has no database lock to lift.") % {"study": study.identifier}
        )
    signature = signature_apply(
        signer=actor,
        password=password,
        totp_code=totp_code,
        meaning=meaning,
        study=study,
        record_type=RECORD_TYPE + ".unlock",
        record_id=f"{study.identifier}:{lock.number}",
        content={"study": study.identifier, "lock": lock.number, "reason": reason},
    )
    with transaction.atomic():
        lock = DatabaseLock.objects.select_for_update().get(pk=lock.pk)
        if lock.status == LockStatus.UNLOCKED:
            raise ValidationError(_("This database lock was already lifted."))
        old_status = lock.status
        lock.status = LockStatus.UNLOCKED
        lock.unlocked_at = utc_now()
        lock.unlocked_by = _label(actor)
        lock.unlock_reason = reason
        lock.unlock_signature = signature
        lock.save(
            update_fields=[
                "status",
                "unlocked_at",
                "unlocked_by",
                "unlock_reason",
                "unlock_signature",
            ]
        )
        audit_record(
            actor=actor,
            action="database_lock.unlocked",
            target=lock,
            old={"lock": lock.name, "status": old_status},
            new={
                "status": lock.status,
                "binding_hash": signature.binding_hash,
                # The blind is not restored by an unlock: the trail says the study stays open.
                "study_unblinded": Study.objects.filter(
                    pk=study.pk, unblinded_at__isnull=False
                ).exists(),
            },
            reason=reason,
            chain=study.audit_chain,
        )
    return lock


# --- the study's unblinding ---------------------------------------------------------------------


def database_lock_unblind(
    *,
    actor: User,
    study: Study,
    reason: str,
    password: str,
    meaning: str,
    totp_code: str = "",
) -> StudyUnblinding:
    """End the blind of the whole study once its database is locked (randomisation's
    `study_unblind`, which refuses it before the lock), naming the lock it follows."""
    lock = study_is_locked(study.pk)
    return study_unblind(
        actor=actor,
        study=study,
        reason=reason,
        password=password,
        totp_code=totp_code,
        meaning=meaning,
        basis=lock.name if lock is not None else "",
    )


def archive_path(lock: DatabaseLock) -> Path:
    """Return the archived snapshot of a lock, checked against the SHA-256 recorded at lock:
    refused when there is none or when the file changed since."""
    if not lock.archive_name:
        raise ValidationError(
            _("%(name)s has no archived snapshot: it never completed.") % {"name": lock.name}
        )
    path = archive_folder() / lock.archive_name
    if not path.is_file() or sha256_of_file(path) != lock.archive_sha256:
        raise ValidationError(
            _(
                "The archived snapshot of %(name)s is missing or differs from the SHA-256 "
                "recorded at lock; it is not served. Restore it from the backups."
            )
            % {"name": lock.name}
        )
    return path


def archive_checksum_text(lock: DatabaseLock) -> str:
    """Return the lock's hashes as `sha256sum -c` reads them, with the manifest's and the audit
    chain's head at lock as comments."""
    return (
        f"{lock.archive_sha256}  {lock.archive_name}\n"
        f"# manifest.json SHA-256 {lock.manifest_sha256}\n"
        f"# audit chain {lock.study.audit_chain} head at lock: #{lock.audit_seq} "
        f"{lock.audit_head_hash}\n"
    )


# --- seams ---------------------------------------------------------------------------------------


def study_locked_refuses(context: WriteContext) -> None:
    """The save guard: refuse any write of a study under database lock (HTTP 423)."""
    lock = study_is_locked(context.subject.study_id)
    if lock is None:
        return
    raise DataLocked(
        _(
            "The database of %(study)s is locked (%(name)s); nothing was written. A data "
            "manager must unlock it, with a signed reason."
        )
        % {"study": context.subject.study.identifier, "name": lock.name},
        place="study",
    )


def study_lock_in_force(study_id: int, subject_ids: Sequence[int]) -> bool:
    """The guard's quick test for an import: may it refuse any write of these subjects?"""
    return study_is_locked(study_id) is not None


def study_unblinding_refusal(study: Study) -> str:
    """Randomisation's check: a study is unblinded only once its database is locked."""
    if study_is_locked(study.pk):
        return ""
    return _("%(study)s may be unblinded only once its database is locked.") % {
        "study": study.identifier
    }


def lock_summary(lock: DatabaseLock) -> dict[str, Any]:
    """Return a lock as the API and the command line show it."""
    signed = signatures_of(lock)
    return {
        "number": lock.number,
        "name": lock.name,
        "status": lock.status,
        "started_by": lock.started_by,
        "started_at": lock.started_at,
        "locked_at": lock.locked_at,
        "signatures": [
            {
                "step": step,
                "signer": signed[step].signer_name if step in signed else "",
                "meaning": signed[step].meaning if step in signed else "",
                "signed_at": signed[step].signed_at if step in signed else None,
            }
            for step in STEPS
        ],
        "cutoff": lock.cutoff.name if lock.cutoff else "",
        "audit_seq": lock.audit_seq,
        "audit_head_hash": lock.audit_head_hash,
        "archive_sha256": lock.archive_sha256,
        "manifest_sha256": lock.manifest_sha256,
        "unlocked_at": lock.unlocked_at,
        "unlocked_by": lock.unlocked_by,
        "unlock_reason": lock.unlock_reason,
    }
