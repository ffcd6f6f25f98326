"""API: who am I, which studies and sites may I see, and the signed change of a study's mode.

The study endpoints that need accounts (its sites, its signed mode change) live here, under the
studies' URLs and tag: accounts sits above studies, so studies' own API imports none of it."""

from __future__ import annotations

from datetime import date

from django.http import HttpRequest
from ninja import Field, Router, Schema

from carnet.accounts.permissions import (
    is_unblinded,
    request_token,
    request_user,
    studies_visible,
)
from carnet.accounts.selectors import my_memberships, sites_visible, study_for_request
from carnet.accounts.signatures import MODE_CHANGE_MEANING, study_mode_change_signed

router = Router(tags=["me"])


class MembershipOut(Schema):
    study: str
    site: str | None
    role: str
    starts_on: date
    ends_on: date | None


class MeOut(Schema):
    username: str
    full_name: str
    email: str
    language: str
    memberships: list[MembershipOut]


class SiteOut(Schema):
    code: str
    centre: str
    name: str
    city: str
    time_zone: str
    activated_on: date | None


class MyStudyOut(Schema):
    identifier: str
    title: str
    mode: str
    current_version: int | None
    roles: list[str]
    unblinded: bool
    sites: list[SiteOut]


def site_out(site) -> SiteOut:  # type: ignore[no-untyped-def]
    centre = site.centre
    return SiteOut(
        code=site.code,
        centre=centre.code,
        name=centre.name,
        city=centre.city,
        time_zone=centre.time_zone,
        activated_on=site.activated_on,
    )


@router.get("/me", response=MeOut, summary="The person behind this session or token")
def me(request: HttpRequest) -> MeOut:
    user = request_user(request)
    token = request_token(request)
    memberships = my_memberships(user)
    if token is not None:
        memberships = memberships.filter(study=token.study)
    return MeOut(
        username=user.username,
        full_name=user.full_name,
        email=user.email,
        language=user.language,
        memberships=[
            MembershipOut(
                study=m.study.identifier,
                site=m.site.code if m.site else None,
                role=m.role,
                starts_on=m.starts_on,
                ends_on=m.ends_on,
            )
            for m in memberships
        ],
    )


@router.get("/my/studies", response=list[MyStudyOut], summary="My studies and the sites I cover")
def my_studies(request: HttpRequest) -> list[MyStudyOut]:
    user = request_user(request)
    token = request_token(request)
    studies = studies_visible(user).select_related("current_version").order_by("identifier")
    if token is not None:
        studies = studies.filter(pk=token.study_id)
    result = []
    for study in studies:
        roles = sorted(set(my_memberships(user).filter(study=study).values_list("role", flat=True)))
        version = study.current_version
        result.append(
            MyStudyOut(
                identifier=study.identifier,
                title=version.title if version else "",
                mode=study.mode,
                current_version=version.number if version else None,
                roles=roles,
                unblinded=is_unblinded(user, study=study),
                sites=[site_out(site) for site in sites_visible(user, study=study)],
            )
        )
    return result


# --- a study's sites and mode (under /studies/, tagged as the studies' endpoints) -------------


class ModeChangeIn(Schema):
    mode: str = Field(description="The new mode: design, test, production, frozen or locked.")
    reason: str = Field(description="Why; kept in the audit trail with the signature.")
    password: str = Field(description="The signer's password: the e-signature.")
    totp_code: str = Field("", description="The authenticator code, when the signer has one.")
    meaning: str = Field(MODE_CHANGE_MEANING, description="The meaning, from the study's list.")


class ModeChangeOut(Schema):
    identifier: str
    mode: str
    signed_by: str
    meaning: str


# The operation ids are those the endpoints had in the studies' router: clients generated from
# the OpenAPI description keep their method names.
@router.get(
    "/studies/{identifier}/sites",
    response=list[SiteOut],
    summary="The study's sites I may see",
    tags=["studies"],
    operation_id="carnet_studies_api_study_sites",
)
def study_sites(request: HttpRequest, identifier: str) -> list[SiteOut]:
    study = study_for_request(request, identifier)
    return [site_out(site) for site in sites_visible(request_user(request), study=study)]


@router.post(
    "/studies/{identifier}/mode",
    response=ModeChangeOut,
    summary="Move the study to another mode, with a reason and the e-signature of its manager",
    tags=["studies"],
    operation_id="carnet_studies_api_study_mode",
)
def study_mode(request: HttpRequest, identifier: str, payload: ModeChangeIn) -> ModeChangeOut:
    study = study_for_request(request, identifier)
    signer = request_user(request)
    study = study_mode_change_signed(
        actor=signer,
        study=study,
        mode=payload.mode,
        reason=payload.reason,
        password=payload.password,
        totp_code=payload.totp_code,
        meaning=payload.meaning,
    )
    return ModeChangeOut(
        identifier=study.identifier,
        mode=study.mode,
        signed_by=signer.display_name(),
        meaning=payload.meaning,
    )
