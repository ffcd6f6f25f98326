"""The identity vault: off by default, encrypted with a key outside the database, shown only at
the subject's site, never in clear in the audit trail."""

from __future__ import annotations

import stat
from datetime import date

import pytest
from cryptography.fernet import Fernet

from carnet.accounts.permissions import PermissionDenied
from carnet.audit.models import AuditEvent
from carnet.core.errors import ValidationError
from carnet.subjects import vault
from carnet.subjects.models import Identity
from carnet.subjects.services import (
    identity_reveal,
    identity_set,
    subject_settings_set,
    subject_transfer,
)
from tests.subjects.conftest import Cast, include

NAME = {
    "last_name": "Dupont",
    "first_name": "Marie",
    "birth_date": "1961-03-04",
    "national_id": "261037505612345",
}


@pytest.fixture(autouse=True)
def key_in_tmp(settings, tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    settings.DATA_DIR = tmp_path
    monkeypatch.delenv(vault.KEY_ENVIRONMENT, raising=False)
    return tmp_path


def vault_on(cast: Cast) -> None:
    subject_settings_set(
        actor=cast.dana, study=cast.study, central_eligibility_review=False, identity_vault=True
    )


def test_the_vault_is_off_by_default_and_refuses_identities(cast: Cast) -> None:
    subject = include(cast)
    with pytest.raises(ValidationError, match="MINI keeps no identities"):
        identity_set(actor=cast.alice, subject=subject, values=NAME)  # type: ignore[arg-type]
    assert identity_reveal(actor=cast.alice, subject=subject) is None
    assert not Identity.objects.exists()


def test_the_subjects_site_stores_and_reads_an_identity_kept_encrypted(
    cast: Cast, key_in_tmp
) -> None:  # type: ignore[no-untyped-def]
    vault_on(cast)
    subject = include(cast)
    identity_set(actor=cast.alice, subject=subject, values=NAME)  # type: ignore[arg-type]
    stored = Identity.objects.get(subject=subject).token
    assert "Dupont" not in stored
    assert "261037505612345" not in stored
    assert identity_reveal(actor=cast.alice, subject=subject)["last_name"] == "Dupont"  # type: ignore[index]
    key_file = key_in_tmp / "vault.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    events = AuditEvent.objects.filter(action__startswith="subject.identity")
    assert "Dupont" not in str(list(events.values_list("old", "new")))
    changed = events.get(action="subject.identity_changed")
    assert changed.new == {
        "birth_date": "encrypted",
        "first_name": "encrypted",
        "last_name": "encrypted",
        "national_id": "encrypted",
    }
    assert events.filter(action="subject.identity_viewed").count() == 1


def test_central_roles_and_other_sites_never_see_an_identity(cast: Cast) -> None:
    vault_on(cast)
    subject = include(cast)
    identity_set(actor=cast.alice, subject=subject, values=NAME)  # type: ignore[arg-type]
    for outsider in (cast.dana, cast.mira, cast.moe, cast.bea):
        with pytest.raises(PermissionDenied, match="only to the subject's site"):
            identity_reveal(actor=outsider, subject=subject)
    # After a transfer, the new site sees the identity and the old one no longer does.
    subject = subject_transfer(
        actor=cast.dana, subject=subject, to_site=cast.site_b, on=date(2025, 6, 10), reason="moved"
    )
    assert identity_reveal(actor=cast.bea, subject=subject)["first_name"] == "Marie"  # type: ignore[index]
    with pytest.raises(PermissionDenied):
        identity_reveal(actor=cast.alice, subject=subject)


def test_a_birth_date_in_the_future_or_an_unknown_field_is_refused(cast: Cast) -> None:
    vault_on(cast)
    subject = include(cast)
    with pytest.raises(ValidationError, match="birth_date: 2030-01-01 is in the future"):
        identity_set(actor=cast.alice, subject=subject, values={"birth_date": "2030-01-01"})
    with pytest.raises(ValidationError, match="nir: not an identity field"):
        identity_set(actor=cast.alice, subject=subject, values={"nir": "1"})
    assert not Identity.objects.exists()


def test_the_vault_cannot_be_turned_off_once_it_holds_identities(cast: Cast) -> None:
    vault_on(cast)
    identity_set(actor=cast.alice, subject=include(cast), values=NAME)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="cannot be turned off"):
        subject_settings_set(
            actor=cast.dana,
            study=cast.study,
            central_eligibility_review=False,
            identity_vault=False,
        )


def test_the_key_can_come_from_the_environment(monkeypatch, key_in_tmp) -> None:  # type: ignore[no-untyped-def]
    key = Fernet.generate_key()
    monkeypatch.setenv(vault.KEY_ENVIRONMENT, key.decode())
    token = vault.seal({"last_name": "Martin"})
    assert Fernet(key).decrypt(token.encode())
    assert not (key_in_tmp / "vault.key").exists()
