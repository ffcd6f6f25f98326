"""API: who am I, and which studies and sites may I see."""

from __future__ import annotations

from datetime import date

from django.http import HttpRequest
from ninja import Router, Schema

from carnet.accounts.models import ApiToken, User
from carnet.accounts.permissions import is_unblinded, studies_visible
from carnet.accounts.selectors import my_memberships, sites_visible

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


def request_user(request: HttpRequest) -> User:
    """Return the authenticated person behind a request."""
    user = request.auth  # type: ignore[attr-defined]
    assert isinstance(user, User)
    return user


def request_token(request: HttpRequest) -> ApiToken | None:
    """Return the API token the request came with, if any."""
    return getattr(request, "api_token", None)


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
