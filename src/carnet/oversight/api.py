"""API of oversight: locks (list, lock, unlock), signatures (a subject's, sign, casebooks
awaiting signature) and the audit trail (one keyset page). No logic here: selectors and
services decide; a write to locked data answers 423 (Locked) from capture's endpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema
from ninja.responses import Status

from carnet.accounts.permissions import request_user
from carnet.accounts.roles import Action
from carnet.accounts.selectors import study_for_request
from carnet.oversight import selectors, trail
from carnet.oversight.models import DataLock, DataSignature
from carnet.oversight.services import Place, data_lock, data_sign, data_unlock
from carnet.subjects.selectors import subject_for_actor

router = Router(tags=["oversight"])


class LockOut(Schema):
    id: int
    scope: str = Field(description="form, visit, subject or site")
    place: str = Field(description="What the lock covers, e.g. '01-001 baseline#1 vitals'")
    site: str
    subject: str | None
    event: str
    occurrence: int | None
    form: str
    repeat: int | None
    reason: str
    locked_by: str
    locked_at: datetime
    in_force: bool
    unlocked_by: str
    unlocked_at: datetime | None
    unlock_reason: str


class LockIn(Schema):
    scope: str = Field(description="form, visit, subject or site")
    site: str = Field("", description="The site's code (a site's lock; else the subject's)")
    subject: str = Field("", description="The subject's identifier (form, visit, subject)")
    event: str = ""
    occurrence: int | None = None
    form: str = ""
    repeat: int = 1
    reason: str = Field(description="Why; kept in the audit trail")


class LockReasonIn(Schema):
    reason: str = Field(description="Why; kept in the audit trail")


class SignatureOut(Schema):
    id: int
    scope: str = Field(description="form, visit or subject (the whole casebook)")
    place: str
    event: str
    occurrence: int | None
    form: str
    repeat: int | None
    signer: str
    meaning: str
    signed_at: datetime
    valid: bool = Field(description="False once a change of the signed data voided it")
    voided_at: datetime | None
    voided_by: str
    void_reason: str


class SignIn(Schema):
    scope: str = Field(description="form, visit or subject (the whole casebook)")
    event: str = ""
    occurrence: int | None = None
    form: str = ""
    repeat: int = 1
    meaning: str = Field(description="One of the study's signature meanings")
    password: str = Field(description="The signer's password: the e-signature")
    totp_code: str = Field("", description="The authenticator code, when enrolled")


class AwaitingOut(Schema):
    site: str
    subjects: list[str]


class TrailEventOut(Schema):
    seq: int
    occurred_at: datetime
    who: str
    action: str
    what: str
    old: str = Field(description="'(blinded)' where the reader may not see it")
    new: str
    why: str


class TrailOut(Schema):
    items: list[TrailEventOut]
    next_before: int | None = Field(description="Pass as `before` for the next (older) page")
    head: int = Field(description="The chain's last event")


class TrailQuery(Schema):
    subject: str = ""
    form: str = ""
    item: str = ""
    user: str = Field("", description="Part of the user's name")
    action: str = Field("", description="An action, or its start ending with a dot (data.)")
    since: str = Field("", description="YYYY-MM-DD")
    until: str = Field("", description="YYYY-MM-DD, included")
    before: int | None = Field(None, description="Events older than this sequence number")
    per_page: int = Field(trail.PER_PAGE, ge=1, le=500)


def lock_record(lock: DataLock) -> dict[str, Any]:
    return {
        "id": lock.pk,
        "scope": lock.scope,
        "place": lock.place(),
        "site": lock.site.code,
        "subject": lock.subject.identifier if lock.subject else None,
        "event": lock.event,
        "occurrence": lock.occurrence,
        "form": lock.form,
        "repeat": lock.repeat,
        "reason": lock.reason,
        "locked_by": lock.locked_by,
        "locked_at": lock.locked_at,
        "in_force": lock.in_force,
        "unlocked_by": lock.unlocked_by,
        "unlocked_at": lock.unlocked_at,
        "unlock_reason": lock.unlock_reason,
    }


def signature_record(signed: DataSignature) -> dict[str, Any]:
    return {
        "id": signed.pk,
        "scope": signed.scope,
        "place": signed.place(),
        "event": signed.event,
        "occurrence": signed.occurrence,
        "form": signed.form,
        "repeat": signed.repeat,
        "signer": signed.signer_name,
        "meaning": signed.meaning,
        "signed_at": signed.signed_at,
        "valid": signed.valid,
        "voided_at": signed.voided_at,
        "voided_by": signed.voided_by,
        "void_reason": signed.void_reason,
    }


@router.get(
    "/{identifier}/locks",
    response=list[LockOut],
    summary="The study's locks at the sites I cover, latest first",
)
def lock_list(request: HttpRequest, identifier: str, in_force: bool = False) -> list[Any]:
    study = study_for_request(request, identifier)
    locks = selectors.locks_of_study(request_user(request), study, in_force=in_force)
    return [lock_record(lock) for lock in locks[:1000]]


@router.post(
    "/{identifier}/locks",
    response={201: LockOut},
    summary="Lock a form, a visit, a subject or a site's data, with a reason (data managers)",
)
def lock_create(request: HttpRequest, identifier: str, body: LockIn) -> Status:
    actor = request_user(request)
    study = study_for_request(request, identifier)
    subject = None
    if body.subject:
        subject = subject_for_actor(actor, study=study, identifier=body.subject)
        site = subject.site
    else:
        site = selectors.site_of_study(actor, study, body.site, Action.MANAGE_DATA)
    place = Place(
        scope=body.scope,
        site=site,
        subject=subject,
        event=body.event,
        occurrence=body.occurrence,
        form=body.form,
        repeat=body.repeat,
    )
    lock = data_lock(actor=actor, study=study, place=place, reason=body.reason)
    return Status(201, lock_record(lock))


@router.post(
    "/{identifier}/locks/{lock_id}/unlock",
    response=LockOut,
    summary="Lift a lock, with a reason (data managers)",
)
def lock_lift(request: HttpRequest, identifier: str, lock_id: int, body: LockReasonIn) -> Any:
    actor = request_user(request)
    study = study_for_request(request, identifier)
    lock = selectors.lock_of_study(actor, study, lock_id)
    return lock_record(data_unlock(actor=actor, lock=lock, reason=body.reason))


@router.get(
    "/{identifier}/subjects/{subject}/signatures",
    response=list[SignatureOut],
    summary="The signatures of a subject's data, voided ones included",
)
def signature_list(request: HttpRequest, identifier: str, subject: str) -> list[Any]:
    study = study_for_request(request, identifier)
    found = subject_for_actor(request_user(request), study=study, identifier=subject)
    return [signature_record(s) for s in selectors.signatures_of_subject(found)]


@router.post(
    "/{identifier}/subjects/{subject}/signatures",
    response={201: SignatureOut},
    summary="Sign a form, a visit or the whole casebook (the site's investigator, e-signature)",
)
def signature_create(request: HttpRequest, identifier: str, subject: str, body: SignIn) -> Status:
    actor = request_user(request)
    study = study_for_request(request, identifier)
    found = subject_for_actor(actor, study=study, identifier=subject)
    place = Place(
        scope=body.scope,
        site=found.site,
        subject=found,
        event=body.event,
        occurrence=body.occurrence,
        form=body.form,
        repeat=body.repeat,
    )
    signed = data_sign(
        actor=actor,
        place=place,
        password=body.password,
        totp_code=body.totp_code,
        meaning=body.meaning,
    )
    return Status(201, signature_record(signed))


@router.get(
    "/{identifier}/signatures/awaiting",
    response=list[AwaitingOut],
    summary="Casebooks with data and no valid signature, site by site (the sites I cover)",
)
def signature_awaiting(request: HttpRequest, identifier: str) -> list[Any]:
    study = study_for_request(request, identifier)
    return [
        {"site": found.site.code, "subjects": [s.identifier for s in found.subjects]}
        for found in selectors.casebooks_awaiting_signature(request_user(request), study)
    ]


@router.get(
    "/{identifier}/audit-trail",
    response=TrailOut,
    summary="One page of the study's audit trail, filtered, latest first (blinded values masked)",
)
def trail_list(request: HttpRequest, identifier: str, query: Query[TrailQuery]) -> Any:
    study = study_for_request(request, identifier)
    filters = trail.TrailFilters.read(query.dict())
    page = trail.trail_page(
        request_user(request),
        study=study,
        filters=filters,
        before=query.before,
        per_page=query.per_page,
    )
    return {"items": page.rows, "next_before": page.next_before, "head": page.head}
