"""API: a subject's randomisation (read it; randomise the subject).

The arm in every answer has been through the blinding policy: a blinded person reads
"(blinded)". Refusals never name an arm. No logic here: the selectors and the service decide.
"""

from __future__ import annotations

from datetime import date, datetime

from django.http import HttpRequest
from ninja import Field, Router, Schema
from ninja.errors import HttpError
from ninja.responses import Status

from carnet.accounts.api import request_user
from carnet.randomization import selectors, services
from carnet.studies.api import study_for_request
from carnet.subjects.selectors import subject_for_actor

router = Router(tags=["randomisation"])

RANDOMISATION = "/{identifier}/subjects/{subject}/randomisation"
# Refusals that are about the subject's state now rather than the request: 409 Conflict.
CONFLICTS = frozenset({"already_randomised", "factors_changed", "exhausted"})


class RandomisationIn(Schema):
    confirm_factors: dict[str, str] | None = Field(
        None,
        description=(
            "The factor levels the person was shown (GET's `factors`); when given, a change in "
            "the casebook since then refuses the randomisation (409) instead of using new values"
        ),
    )


class RandomisationOut(Schema):
    subject: str
    method: str = Field(description="simple, blocks or minimisation")
    randomised: bool
    number: int | None = Field(description="The allocation number, once randomised")
    arm: str = Field(description="The arm for unblinded people, '(blinded)' for the others")
    randomised_on: date | None
    factors: dict[str, str | None] = Field(
        description="Each factor's level, from the casebook (null: not entered yet)"
    )
    refusal: str = Field(description="Why the subject cannot be randomised now; empty if it can")
    kit_number: str = Field("", description="Blinded studies with kits: the kit given")
    unblinded: bool = Field(False, description="Unblinded in an emergency")


def _out(subject: str, state: selectors.RandomisationState) -> RandomisationOut:
    return RandomisationOut(
        subject=subject,
        method=state.method,
        randomised=state.allocated,
        number=state.number,
        arm=state.arm,
        randomised_on=state.randomised_on,
        factors=state.levels,
        refusal=state.refusal,
        kit_number=state.kit_number,
        unblinded=state.unblinded,
    )


@router.get(RANDOMISATION, response=RandomisationOut, summary="A subject's randomisation")
def randomisation_detail(request: HttpRequest, identifier: str, subject: str) -> RandomisationOut:
    user = request_user(request)
    study = study_for_request(request, identifier)
    found = subject_for_actor(user, study=study, identifier=subject)
    return _out(found.identifier, selectors.randomisation_state(user, found))


@router.post(
    RANDOMISATION,
    response={201: RandomisationOut},
    summary="Randomise a subject (once)",
    description=(
        "Allocates the subject with the study's scheme, from the factor levels in the casebook. "
        "Refused with 409 when already randomised, when the factors changed since `confirm_"
        "factors` was read, or when the list is exhausted (the data managers are told); 400 for "
        "a subject that cannot be randomised (not eligible, no consent, withdrawn, a test "
        "patient of a study in production, a factor not entered); 403 at another site."
    ),
)
def randomisation_create(
    request: HttpRequest, identifier: str, subject: str, payload: RandomisationIn
) -> Status[RandomisationOut]:
    user = request_user(request)
    study = study_for_request(request, identifier)
    found = subject_for_actor(user, study=study, identifier=subject)
    try:
        services.subject_randomise(
            actor=user, subject=found, confirm_factors=payload.confirm_factors
        )
    except selectors.RandomisationRefused as refused:
        if refused.code in CONFLICTS:
            raise HttpError(409, str(refused)) from refused
        raise
    return Status(201, _out(found.identifier, selectors.randomisation_state(user, found)))


# --- emergency and pharmacovigilance unblinding (issue 17 item 5) ----------------------------

UNBLINDING = "/{identifier}/subjects/{subject}/unblinding"
PV_UNBLINDING = "/{identifier}/subjects/{subject}/pharmacovigilance-unblinding"


class UnblindingIn(Schema):
    reason: str = Field(description="Why the arm must be known now")
    password: str = Field(description="The investigator's password: the e-signature")
    totp_code: str = Field("", description="The authenticator code, when enrolled")
    confirmed: bool = Field(description="The second confirmation: must be true")


class UnblindingOut(Schema):
    subject: str
    arm: str
    unblinded_at: str


class PharmacovigilanceUnblindingIn(Schema):
    reason: str
    case_reference: str = Field(description="The pharmacovigilance case (e.g. a SUSAR's number)")


class PharmacovigilanceUnblindingOut(Schema):
    subject: str
    case_reference: str
    arm: str


@router.post(
    UNBLINDING,
    response={201: UnblindingOut},
    summary="Unblind a subject in an emergency",
    description=(
        "An investigator of the subject's site, with a reason, the e-signature (password, TOTP "
        "when enrolled) and `confirmed: true`. Audited; the sponsor's contacts are told. 409 when "
        "already unblinded; 400 without reason, confirmation or a valid signature; 403 otherwise."
    ),
)
def unblinding_create(
    request: HttpRequest, identifier: str, subject: str, payload: UnblindingIn
) -> Status[UnblindingOut]:
    from carnet.randomization import unblinding

    user = request_user(request)
    study = study_for_request(request, identifier)
    found = subject_for_actor(user, study=study, identifier=subject)
    try:
        allocation = unblinding.emergency_unblind(
            actor=user,
            subject=found,
            reason=payload.reason,
            password=payload.password,
            totp_code=payload.totp_code,
            confirmed=payload.confirmed,
        )
    except unblinding.UnblindingRefused as refused:
        if refused.code == "already_unblinded":
            raise HttpError(409, str(refused)) from refused
        raise
    return Status(
        201,
        UnblindingOut(
            subject=found.identifier,
            arm=unblinding.allocation_arm(user, allocation),
            unblinded_at=allocation.unblinded_at.isoformat() if allocation.unblinded_at else "",
        ),
    )


@router.post(
    PV_UNBLINDING,
    response={201: PharmacovigilanceUnblindingOut},
    summary="Reveal a subject's arm to pharmacovigilance for one case",
    description=(
        "The pharmacovigilance role only, with a reason and the case; recorded and audited; the "
        "study team stays blinded."
    ),
)
def pharmacovigilance_unblinding_create(
    request: HttpRequest, identifier: str, subject: str, payload: PharmacovigilanceUnblindingIn
) -> Status[PharmacovigilanceUnblindingOut]:
    from carnet.randomization import unblinding

    user = request_user(request)
    study = study_for_request(request, identifier)
    found = subject_for_actor(user, study=study, identifier=subject)
    arm = unblinding.pharmacovigilance_unblind(
        actor=user, subject=found, reason=payload.reason, case_reference=payload.case_reference
    )
    return Status(
        201,
        PharmacovigilanceUnblindingOut(
            subject=found.identifier, case_reference=payload.case_reference.strip(), arm=arm
        ),
    )


# --- the outage procedure (issue 17 item 6) --------------------------------------------------

PAPER = "/{identifier}/subjects/{subject}/randomisation/paper"
RECONCILIATION = "/{identifier}/randomisation/reconciliation"
ENVELOPE_OPENED = "/{identifier}/randomisation/envelopes/{envelope}/opened"
PAPER_CONFLICTS = frozenset({"already_randomised", "envelope_used"})


class PaperRandomisationIn(Schema):
    envelope: str = Field(description="The number of the sealed envelope opened at the site")
    allocated_at: datetime = Field(
        description="When the envelope was opened (with its time zone); not in the future"
    )
    allocated_by: str = Field(description="Who opened the envelope and allocated")
    reason: str = Field(description="Why the allocation was made on paper (the outage)")
    kit_given: str = Field("", description="The kit dispensed, when the study has kits")


class EnvelopeOpenedIn(Schema):
    opened_at: datetime
    note: str = Field(description="How the envelope was found (seal broken, by whom)")


class EnvelopeOpenedOut(Schema):
    envelope: str
    opened_at: datetime


class ReconciliationOut(Schema):
    envelope: str
    site: str
    envelope_stratum: str
    subject: str
    allocation_number: int | None
    allocated_at: datetime | None
    randomised_on: date | None
    allocated_by: str
    reason: str
    recorded_by: str
    casebook_stratum: str = Field(description="The subject's stratum from the casebook now")
    envelope_kit: str
    kit_given: str
    opened_at: datetime | None
    issues: list[str] = Field(description="stratum, order, opened, kit: what does not match")
    details: list[str] = Field(description="Each mismatch in words")


@router.post(
    PAPER,
    response={201: RandomisationOut},
    summary="Record an allocation made on paper during an outage",
    description=(
        "The subject's site records the sealed envelope it opened, when, who and why; the "
        "randomisation date is the day of `allocated_at` at the site. 409 when the subject is "
        "already randomised or the envelope was used; 400 for an unknown envelope, an envelope "
        "of another site, a future moment or a subject who cannot be randomised; 403 otherwise."
    ),
)
def paper_randomisation_create(
    request: HttpRequest, identifier: str, subject: str, payload: PaperRandomisationIn
) -> Status[RandomisationOut]:
    from carnet.randomization import outage

    user = request_user(request)
    study = study_for_request(request, identifier)
    found = subject_for_actor(user, study=study, identifier=subject)
    try:
        outage.subject_randomise_on_paper(
            actor=user,
            subject=found,
            envelope=payload.envelope,
            allocated_at=payload.allocated_at,
            allocated_by=payload.allocated_by,
            reason=payload.reason,
            kit_given=payload.kit_given,
        )
    except selectors.RandomisationRefused as refused:
        if refused.code in PAPER_CONFLICTS:
            raise HttpError(409, str(refused)) from refused
        raise
    return Status(201, _out(found.identifier, selectors.randomisation_state(user, found)))


@router.get(
    RECONCILIATION,
    response=list[ReconciliationOut],
    summary="Paper allocations reconciled with the sites' sealed envelopes",
    description="Each envelope used or found opened at the sites one sees, with any mismatch; "
    "no arm.",
)
def reconciliation_list(request: HttpRequest, identifier: str) -> list[ReconciliationOut]:
    from carnet.randomization import reconciliation

    user = request_user(request)
    study = study_for_request(request, identifier)
    return [
        ReconciliationOut(
            envelope=row.envelope,
            site=row.site,
            envelope_stratum=row.envelope_stratum,
            subject=row.subject,
            allocation_number=row.allocation_number,
            allocated_at=row.allocated_at,
            randomised_on=row.randomised_on,
            allocated_by=row.allocated_by,
            reason=row.reason,
            recorded_by=row.recorded_by,
            casebook_stratum=row.casebook_stratum,
            envelope_kit=row.envelope_kit,
            kit_given=row.kit_given,
            opened_at=row.opened_at,
            issues=row.issue_codes,
            details=[sentence for _code, sentence in row.issues],
        )
        for row in reconciliation.paper_reconciliation(actor=user, study=study)
    ]


@router.post(
    ENVELOPE_OPENED,
    response={201: EnvelopeOpenedOut},
    summary="Report an envelope found opened without a recorded allocation",
    description="By someone who sees the envelope's site; audited; it shows in the "
    "reconciliation until an allocation with it is recorded. 409 when already reported.",
)
def envelope_opened_create(
    request: HttpRequest, identifier: str, envelope: str, payload: EnvelopeOpenedIn
) -> Status[EnvelopeOpenedOut]:
    from carnet.randomization import outage

    user = request_user(request)
    study = study_for_request(request, identifier)
    try:
        found = outage.envelope_opened_report(
            actor=user,
            study=study,
            envelope=envelope,
            opened_at=payload.opened_at,
            note=payload.note,
        )
    except selectors.RandomisationRefused as refused:
        if refused.code in PAPER_CONFLICTS:
            raise HttpError(409, str(refused)) from refused
        raise
    return Status(201, EnvelopeOpenedOut(envelope=found.number, opened_at=payload.opened_at))
