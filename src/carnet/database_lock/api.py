"""API of the database lock: the checklist as it stands, waiving an item, the study's locks,
signing the lock at the next step, the signed unlock, the study's unblinding after the lock and
the download of a lock's archived snapshot. No logic here: the selectors and
services decide; once locked, capture's endpoints answer 423 (Locked)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import FileResponse, HttpRequest
from ninja import Field, Router, Schema
from ninja.responses import Status

from carnet.accounts.permissions import request_user
from carnet.accounts.selectors import study_for_request
from carnet.database_lock import selectors, services
from carnet.randomization.study_unblinding import study_unblinding_of

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


class DatabaseLockUnblindingOut(Schema):
    unblinded: bool = Field(description="Whether the blind of the whole study has ended")
    unblinded_at: datetime | None
    unblinded_by: str
    basis: str = Field(description="The database lock it follows (DBLOCK-N)")
    reason: str
    meaning: str


class DatabaseLockUnblindIn(DatabaseLockUnlockIn):
    pass


def _unblinding(study: Any) -> dict[str, Any]:
    found = study_unblinding_of(study)
    if found is None:
        return {
            "unblinded": False,
            "unblinded_at": None,
            "unblinded_by": "",
            "basis": "",
            "reason": "",
            "meaning": "",
        }
    return {
        "unblinded": True,
        "unblinded_at": found.at,
        "unblinded_by": found.by,
        "basis": found.basis,
        "reason": found.reason,
        "meaning": found.signature.meaning,
    }


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


@router.get(
    BASE + "/unblinding",
    response=DatabaseLockUnblindingOut,
    summary="Whether the study is unblinded as a whole, when, by whom and after which lock",
)
def database_lock_unblinding(request: HttpRequest, identifier: str) -> Any:
    study = study_for_request(request, identifier)
    selectors.require_view(request_user(request), study)
    return _unblinding(study)


@router.post(
    BASE + "/unblinding",
    response={201: DatabaseLockUnblindingOut},
    summary="Unblind the whole study once its database is locked (sponsor or data manager, "
    "e-signature, reason); refused before the lock",
)
def database_lock_unblind(
    request: HttpRequest, identifier: str, body: DatabaseLockUnblindIn
) -> Status:
    study = study_for_request(request, identifier)
    services.database_lock_unblind(
        actor=request_user(request),
        study=study,
        reason=body.reason,
        password=body.password,
        totp_code=body.totp_code,
        meaning=body.meaning,
    )
    return Status(201, _unblinding(study))


@router.get(
    BASE + "/{number}/archive",
    response={200: None},
    summary="Download a lock's archived snapshot (zip, every value and arm), checked against "
    "its recorded SHA-256, which the X-Checksum-SHA256 header repeats",
)
def database_lock_archive(request: HttpRequest, identifier: str, number: int) -> FileResponse:
    study = study_for_request(request, identifier)
    selectors.require_archive(request_user(request), study)
    lock = selectors.lock_of(study, number)
    path = services.archive_path(lock)
    response = FileResponse(path.open("rb"), as_attachment=True, filename=lock.archive_name)
    response["X-Checksum-SHA256"] = lock.archive_sha256
    return response
