"""Electronic signatures: re-authentication, a meaning, and a binding that cannot be moved."""

from __future__ import annotations

import pytest
from django.test import Client

from carnet.accounts.models import Signature
from carnet.accounts.signatures import DEFAULT_MEANINGS, signature_apply, signature_verify
from carnet.audit.models import AuditEvent
from carnet.core.errors import ValidationError
from tests.accounts.personas import person, world
from tests.web.helpers import PASSWORD, current_code, enrol, sign_in

pytestmark = pytest.mark.django_db

CASEBOOK = {"subject": "01-001", "forms": {"demographics": {"sex": 1, "age": 64}}}
MEANING = DEFAULT_MEANINGS[0]


def sign(user, **changes):  # type: ignore[no-untyped-def]
    arguments = {
        "signer": user,
        "password": PASSWORD,
        "meaning": MEANING,
        "study": None,
        "record_type": "casebook",
        "record_id": "01-001",
        "content": CASEBOOK,
    }
    arguments.update(changes)
    return signature_apply(**arguments)


def test_a_signature_records_who_when_what_and_why() -> None:
    w = world()
    user = person("pi", study=w.study, role="investigator", sites=[w.site_a])
    signature = sign(user, study=w.study)
    assert signature.signer_name == "Pi"
    assert signature.meaning == MEANING
    assert len(signature.content_sha256) == 64
    assert signature_verify(signature, record_type="casebook", record_id="01-001", content=CASEBOOK)
    event = AuditEvent.objects.get(action="signature.applied")
    assert event.chain == "study:MINI"
    assert event.new["binding_hash"] == signature.binding_hash


def test_a_signature_cannot_be_moved_to_another_record_or_survive_a_change() -> None:
    signature = sign(person("pi"))
    assert not signature_verify(
        signature, record_type="casebook", record_id="01-002", content=CASEBOOK
    )
    changed = {**CASEBOOK, "forms": {"demographics": {"sex": 1, "age": 65}}}
    assert not signature_verify(
        signature, record_type="casebook", record_id="01-001", content=changed
    )
    # Rewriting the stored record identifier does not help: the binding hash covers it.
    Signature.objects.filter(pk=signature.pk).update(record_id="01-002")
    signature.refresh_from_db()
    assert not signature_verify(
        signature, record_type="casebook", record_id="01-002", content=CASEBOOK
    )


def test_a_wrong_password_signs_nothing_and_is_audited() -> None:
    user = person("pi")
    with pytest.raises(ValidationError, match=r"The password is wrong; nothing was signed\."):
        sign(user, password="not it")
    assert not Signature.objects.exists()
    assert AuditEvent.objects.filter(action="signature.refused").count() == 1


def test_an_enrolled_signer_also_gives_a_current_code(client: Client) -> None:
    user = person("pi")
    sign_in(client, "pi")
    device, _codes = enrol(client)
    with pytest.raises(ValidationError, match="authenticator code is wrong"):
        sign(user, totp_code="123456")
    import time_machine

    from carnet.core.clock import utc_now

    with time_machine.travel(utc_now().timestamp() + 90, tick=False):
        assert sign(user, totp_code=current_code(device)).pk is not None


def test_the_meaning_comes_from_the_list() -> None:
    with pytest.raises(ValidationError, match="meaning"):
        sign(person("pi"), meaning="I like it")
