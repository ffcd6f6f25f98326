"""API: a subject's randomisation (read it; randomise the subject).

The arm in every answer has been through the blinding policy: a blinded person reads
"(blinded)". Refusals never name an arm. No logic here: the selectors and the service decide.
"""

from __future__ import annotations

from datetime import date

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
