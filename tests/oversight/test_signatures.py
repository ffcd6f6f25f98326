"""Signatures (issue 19, item 3): the site's investigator signs a form, a visit or the whole
casebook with the e-signature (password, meaning from the study's list); a later change of signed
data needs a reason and voids the signature, visibly on the casebook, the form and the API; the
casebooks awaiting signature are listed per site."""

from __future__ import annotations

import pytest
from django.test import Client

from carnet.accounts.permissions import PermissionDenied
from carnet.accounts.services import token_create
from carnet.accounts.signatures import DEFAULT_MEANINGS, signature_verify
from carnet.audit.models import AuditEvent
from carnet.capture.seams import SaveRefused
from carnet.core.errors import ValidationError
from carnet.oversight.models import DataSignature
from carnet.oversight.selectors import casebooks_awaiting_signature
from carnet.oversight.services import Place, data_sign, record_of, signed_content
from tests.accounts.personas import ADMIN
from tests.oversight.conftest import PASSWORD, Oversight

pytestmark = pytest.mark.django_db

CASEBOOK_MEANING = DEFAULT_MEANINGS[0]
SUBJECT = "/studies/MINI/subjects/01-001/"


def casebook(o: Oversight) -> Place:
    return Place(scope="subject", site=o.subject.site, subject=o.subject)


def sign(o: Oversight, place: Place | None = None, **kwargs) -> DataSignature:  # type: ignore[no-untyped-def]
    return data_sign(
        actor=kwargs.pop("actor", o.investigator),
        place=place or casebook(o),
        password=kwargs.pop("password", PASSWORD),
        meaning=kwargs.pop("meaning", CASEBOOK_MEANING),
    )


def test_the_investigator_signs_the_casebook_and_a_change_with_a_reason_voids_it(
    oversight: Oversight,
) -> None:
    o = oversight
    o.save(values={"weight": 70})  # in progress: capture itself asks no reason
    signed = sign(o)
    assert signed.valid
    assert signed.signer_name == "Irene"
    record_type, record_id = record_of(casebook(o))
    assert signature_verify(
        signed.signature,
        record_type=record_type,
        record_id=record_id,
        content=signed_content(casebook(o)),
    )
    assert [e.action for e in AuditEvent.objects.filter(chain="study:MINI").order_by("seq")][
        -2:
    ] == ["signature.applied", "data.signed"]

    with pytest.raises(SaveRefused, match="signed by Irene: give a reason"):
        o.save(values={"weight": 71}, reason="")
    signed.refresh_from_db()
    assert signed.valid

    o.save(values={"weight": 71}, reason="transcription error")
    signed.refresh_from_db()
    assert not signed.valid
    assert signed.void_reason == "transcription error"
    assert signed.voided_by == o.entry.display_name()
    void = AuditEvent.objects.get(action="data.signature_voided")
    assert void.reason == "transcription error"
    # The signed content no longer matches either: the e-signature itself no longer verifies.
    assert not signature_verify(
        signed.signature,
        record_type=record_type,
        record_id=record_id,
        content=signed_content(casebook(o)),
    )


def test_only_the_investigator_of_the_subject_s_site_signs_with_the_right_password(
    oversight: Oversight,
) -> None:
    o = oversight
    o.save(values={"weight": 70})
    for user in (o.entry, o.investigator_b, o.manager, o.monitor, o.inspector):
        with pytest.raises(PermissionDenied):
            sign(o, actor=user)
    with pytest.raises(ValidationError, match="password is wrong"):
        sign(o, password="not it")
    with pytest.raises(ValidationError, match="meaning"):
        sign(o, meaning="I like it")
    assert AuditEvent.objects.filter(action="signature.refused").count() == 2
    assert not DataSignature.objects.exists()
    sign(o)
    with pytest.raises(ValidationError, match="already signed"):
        sign(o)


def test_a_form_signature_is_voided_only_by_a_change_of_that_form(oversight: Oversight) -> None:
    o = oversight
    o.save(values={"weight": 70})
    o.save(form="lesions", rows={"target": {1: {"lesion_site": "liver", "diameter": 20}}})
    vitals = sign(
        o,
        Place(
            scope="form",
            site=o.subject.site,
            subject=o.subject,
            event="baseline",
            occurrence=1,
            form="vitals",
        ),
    )
    visit = sign(
        o,
        Place(
            scope="visit", site=o.subject.site, subject=o.subject, event="baseline", occurrence=1
        ),
    )
    o.save(form="lesions", rows={"target": {1: {"diameter": 25}}}, reason="remeasured")
    vitals.refresh_from_db()
    visit.refresh_from_db()
    assert vitals.valid
    assert not visit.valid


def test_the_void_shows_on_the_casebook_the_form_and_the_api(oversight: Oversight) -> None:
    o = oversight
    o.save(values={"weight": 70})
    sign(o)
    page = o.client(o.entry).get(SUBJECT + "casebook/").content.decode()
    assert "Signed by Irene" in page
    o.save(values={"weight": 72}, reason="typo")
    page = o.client(o.entry).get(SUBJECT + "casebook/").content.decode()
    assert "Signature voided (typo)" in page
    form = o.client(o.entry).get(SUBJECT + "forms/baseline/1/vitals/").content.decode()
    assert "Signature voided (typo)" in form
    _token, key = token_create(actor=ADMIN, user=o.monitor, study=o.study)
    api = Client(headers={"authorization": f"Bearer {key}"})
    listed = api.get("/api/studies/MINI/subjects/01-001/signatures").json()
    assert [(s["scope"], s["valid"], s["void_reason"]) for s in listed] == [
        ("subject", False, "typo")
    ]


def test_the_investigator_signs_over_the_api_and_the_page(oversight: Oversight) -> None:
    o = oversight
    o.save(values={"weight": 70})
    _token, key = token_create(actor=ADMIN, user=o.investigator, study=o.study)
    api = Client(headers={"authorization": f"Bearer {key}"})
    wrong = api.post(
        "/api/studies/MINI/subjects/01-001/signatures",
        {"scope": "subject", "meaning": CASEBOOK_MEANING, "password": "nope"},
        content_type="application/json",
    )
    assert wrong.status_code == 400
    signed = api.post(
        "/api/studies/MINI/subjects/01-001/signatures",
        {
            "scope": "visit",
            "event": "baseline",
            "occurrence": 1,
            "meaning": CASEBOOK_MEANING,
            "password": PASSWORD,
        },
        content_type="application/json",
    )
    assert signed.status_code == 201, signed.content
    assert signed.json()["place"] == "01-001 baseline#1"
    client = o.client(o.investigator)
    page = client.get(SUBJECT + "oversight/").content.decode()
    assert 'id="sign-form"' in page
    client.post(
        SUBJECT + "oversight/sign/",
        {"place": "subject", "meaning": CASEBOOK_MEANING, "password": PASSWORD},
    )
    assert DataSignature.objects.filter(scope="subject").exists()
    assert 'id="sign-form"' not in o.client(o.entry).get(SUBJECT + "oversight/").content.decode()


def test_casebooks_awaiting_signature_are_listed_per_site(oversight: Oversight) -> None:
    o = oversight
    assert casebooks_awaiting_signature(o.investigator, o.study) == []
    o.save(values={"weight": 70})
    awaiting = casebooks_awaiting_signature(o.investigator, o.study)
    assert [(a.site.code, [s.identifier for s in a.subjects]) for a in awaiting] == [
        ("01", ["01-001"])
    ]
    assert casebooks_awaiting_signature(o.investigator_b, o.study) == []
    page = o.client(o.manager).get("/studies/MINI/signatures/awaiting/").content.decode()
    assert "01-001" in page
    sign(o)
    assert casebooks_awaiting_signature(o.manager, o.study) == []
    o.save(values={"weight": 71}, reason="typo")
    assert len(casebooks_awaiting_signature(o.manager, o.study)) == 1
