"""API of the database lock: the checklist as it stands, waiving an item, the study's locks,
signing the lock at the next step, and the signed unlock. No logic here: the selectors and
services decide; once locked, capture's endpoints answer 423 (Locked)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest
from ninja import Field, Router, Schema
from ninja.responses import Status

from carnet.accounts.permissions import request_user
from carnet.accounts.selectors import study_for_request
from carnet.database_lock import selectors, services

router = Router(tags=["database_lock"])

BASE = "/{identifier}/database-lock"


class DatabaseLockItemOut(Schema):
    item: str
    label: str
    count: int
    clear: bool
    waived: bool
    waiver_reason: str
    waived_by: str


class DatabaseLockWaiveIn(Schema):
    item: str = Field(description="The item's key, e.g. queries_unanswered")
    reason: str = Field(description="Why it need not stop the lock; kept in the audit trail")


class DatabaseLockSignatureOut(Schema):
    step: str = Field(description="data_manager, statistician, coordinating_investigator, sponsor")
    signer: str
    meaning: str
    signed_at: datetime | None


class DatabaseLockOut(Schema):
    number: int
    name: str = Field(description="DBLOCK-N, the name of its cut-off")
    status: str = Field(description="signing, locked or unlocked")
    started_by: str
    started_at: datetime
    locked_at: datetime | None
    signatures: list[DatabaseLockSignatureOut]
    cutoff: str
    audit_seq: int | None
    audit_head_hash: str
    archive_sha256: str = Field(description="SHA-256 of the archived export made at lock")
    manifest_sha256: str
    unlocked_at: datetime | None
    unlocked_by: str
    unlock_reason: str


class DatabaseLockSignIn(Schema):
    meaning: str = Field(description="One of the study's signature meanings")
    password: str = Field(description="The signer's password: the e-signature")
    totp_code: str = Field("", description="The authenticator code, when enrolled")


class DatabaseLockUnlockIn(DatabaseLockSignIn):
    reason: str = Field(description="Why the lock is lifted; kept in the audit trail")


def _item(state: selectors.ItemState) -> dict[str, Any]:
    return {
        "item": state.key,
        "label": state.label,
        "count": state.count,
        "clear": state.clear,
        "waived": state.waived,
        "waiver_reason": state.waiver.reason if state.waived and state.waiver else "",
        "waived_by": state.waiver.waived_by if state.waived and state.waiver else "",
    }


@router.get(
    BASE + "/checklist",
    response=list[DatabaseLockItemOut],
    summary="The database lock's checklist as it stands: each item clear, waived or open",
)
def database_lock_checklist(request: HttpRequest, identifier: str) -> list[Any]:
    study = study_for_request(request, identifier)
    selectors.require_view(request_user(request), study)
    return [_item(state) for state in selectors.checklist_state(study)]


@router.post(
    BASE + "/waivers",
    response={201: DatabaseLockItemOut},
    summary="Waive an item of the checklist with a reason (data managers of the whole study)",
)
def database_lock_waive(request: HttpRequest, identifier: str, body: DatabaseLockWaiveIn) -> Status:
    study = study_for_request(request, identifier)
    services.checklist_waive(
        actor=request_user(request), study=study, item=body.item, reason=body.reason
    )
    state = next(s for s in selectors.checklist_state(study) if s.key == body.item)
    return Status(201, _item(state))


@router.get(
    BASE,
    response=list[DatabaseLockOut],
    summary="The study's database locks, latest first, with their signatures and hashes",
)
def database_lock_list(request: HttpRequest, identifier: str) -> list[Any]:
    study = study_for_request(request, identifier)
    selectors.require_view(request_user(request), study)
    return [services.lock_summary(lock) for lock in selectors.locks_of(study)]


@router.post(
    BASE + "/signatures",
    response={201: DatabaseLockOut},
    summary="Sign the database lock at the next step (e-signature); the sponsor's locks it",
)
def database_lock_sign(request: HttpRequest, identifier: str, body: DatabaseLockSignIn) -> Status:
    study = study_for_request(request, identifier)
    lock = services.database_lock_sign(
        actor=request_user(request),
        study=study,
        password=body.password,
        totp_code=body.totp_code,
        meaning=body.meaning,
    )
    return Status(201, services.lock_summary(lock))


@router.post(
    BASE + "/unlock",
    response=DatabaseLockOut,
    summary="Lift the database lock with a reason, under the data manager's e-signature",
)
def database_lock_unlock(request: HttpRequest, identifier: str, body: DatabaseLockUnlockIn) -> Any:
    study = study_for_request(request, identifier)
    lock = services.database_lock_unlock(
        actor=request_user(request),
        study=study,
        reason=body.reason,
        password=body.password,
        totp_code=body.totp_code,
        meaning=body.meaning,
    )
    return services.lock_summary(lock)
