"""API: a study's outline.

Its sites and the signed change of its mode need accounts (memberships, e-signatures), which sit
above studies: those endpoints are in carnet/accounts/api.py, under the same /studies/ URLs."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Router, Schema

from carnet.accounts.permissions import PermissionDenied
from carnet.accounts.selectors import study_for_request
from carnet.studies.definition.outline import schedule_text

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
