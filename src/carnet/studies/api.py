"""API: a study's outline, its sites (as far as the person asking may see them), and the
signed change of its mode."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, Router, Schema

from carnet.accounts.api import SiteOut, request_token, request_user, site_out
from carnet.accounts.permissions import PermissionDenied, study_visible
from carnet.accounts.selectors import sites_visible, study_for_actor
from carnet.accounts.signatures import (
    MODE_CHANGE_MEANING,
    study_mode_change_signed,
)
from carnet.studies.definition.outline import schedule_text
from carnet.studies.models import Study

router = Router(tags=["studies"])


class LabelOut(Schema):
    en: str
    fr: str


class ItemOutlineOut(Schema):
    name: str
    oid: str
    type: str
    label: LabelOut
    units: str
    required: bool
    code_list: str
    repeating: bool


class FormOutlineOut(Schema):
    name: str
    oid: str
    label: LabelOut
    items: list[ItemOutlineOut]


class EventOutlineOut(Schema):
    name: str
    oid: str
    label: LabelOut
    schedule: str
    forms: list[str]


class OutlineOut(Schema):
    identifier: str
    title: LabelOut
    phase: str
    sponsor: str
    registry: dict[str, str]
    mode: str
    version: int
    events: list[EventOutlineOut]
    forms: list[FormOutlineOut]


def study_for_request(request: HttpRequest, identifier: str) -> Study:
    """Return the study named in the path if the person, and their token, may see it."""
    token = request_token(request)
    if token is None:
        return study_for_actor(request_user(request), identifier)
    if token.study.identifier != identifier:
        raise PermissionDenied(_("This token is for another study."))
    # The token came with its study and current version, read in this request: not read again.
    if not study_visible(request_user(request), token.study):
        raise PermissionDenied(
            _("There is no study '%(identifier)s' you may see.") % {"identifier": identifier}
        )
    return token.study


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


def _label(label: Any) -> LabelOut:
    return LabelOut(en=label.en, fr=label.fr)


@router.get("/{identifier}", response=OutlineOut, summary="A study's outline: events, forms, items")
def study_outline(request: HttpRequest, identifier: str) -> OutlineOut:
    study = study_for_request(request, identifier)
    version = study.current_version
    if version is None:
        raise PermissionDenied(
            _("%(identifier)s has no published version yet.") % {"identifier": identifier}
        )
    d = version.parsed()
    return OutlineOut(
        identifier=d.identifier,
        title=_label(d.title),
        phase=d.phase,
        sponsor=d.sponsor,
        registry={"eu_ct": d.registry.eu_ct, "id_rcb": d.registry.id_rcb, "nct": d.registry.nct},
        mode=study.mode,
        version=version.number,
        events=[
            EventOutlineOut(
                name=e.name,
                oid=e.oid,
                label=_label(e.label),
                schedule=schedule_text(e),
                forms=list(e.forms),
            )
            for e in d.events
        ],
        forms=[
            FormOutlineOut(
                name=f.name,
                oid=f.oid,
                label=_label(f.label),
                items=[
                    ItemOutlineOut(
                        name=i.name,
                        oid=i.oid,
                        type=i.type,
                        label=_label(i.label),
                        units=i.units,
                        required=i.required,
                        code_list=i.code_list,
                        repeating=g.repeating,
                    )
                    for g in f.groups
                    for i in g.items
                ],
            )
            for f in d.forms
        ],
    )


@router.get("/{identifier}/sites", response=list[SiteOut], summary="The study's sites I may see")
def study_sites(request: HttpRequest, identifier: str) -> list[SiteOut]:
    study = study_for_request(request, identifier)
    return [site_out(site) for site in sites_visible(request_user(request), study=study)]


@router.post(
    "/{identifier}/mode",
    response=ModeChangeOut,
    summary="Move the study to another mode, with a reason and the e-signature of its manager",
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
