"""Electronic signatures (21 CFR Part 11 §11.50, §11.70, §11.200).

A signature is applied by re-entering one's password (and a TOTP code when enrolled), with a
meaning chosen from the study's list. It records the signer's printed name, the time and the
SHA-256 of the signed content, and a binding hash over all of it plus the record's identity:
the signature cannot be moved to another record, nor survive a change of the signed content.
Every signature, and every refused attempt, is an audit event. docs/signatures.md states the
session rules.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop
from django_otp.plugins.otp_totp.models import TOTPDevice

from carnet.accounts.models import Signature, User
from carnet.accounts.permissions import require
from carnet.accounts.roles import Action
from carnet.accounts.sign_in import two_factor_enrolled
from carnet.audit.hashing import timestamp_text
from carnet.audit.services import audit_record
from carnet.core.clock import utc_now
from carnet.core.errors import ValidationError
from carnet.core.hashing import sha256_of_json
from carnet.studies.models import Study
from carnet.studies.services import study_mode_change, study_mode_move_check
from carnet.studies.signing import MODE_CHANGE_MEANING

# Meanings offered when a study lists none of its own.
DEFAULT_MEANINGS = (
    gettext_noop("I confirm the data of this casebook are accurate and complete."),
    gettext_noop("I have reviewed this report."),
    gettext_noop("I approve this document."),
    gettext_noop("I authorise this database lock."),
    MODE_CHANGE_MEANING,
    gettext_noop("I request the emergency unblinding of this subject."),
    gettext_noop("I authorise the unblinding of this study."),
)


def signature_meanings(study: Study | None) -> tuple[str, ...]:
    """Return the meanings a signer may choose from in a study."""
    if study is not None and study.current_version is not None:
        meanings = study.current_version.definition.get("signature_meanings")
        if meanings:
            return tuple(meanings)
    return DEFAULT_MEANINGS


def content_digest(content: Any) -> str:
    """Return the SHA-256 of what is signed (its canonical JSON)."""
    return sha256_of_json(content)


def _binding(signature: Signature) -> str:
    return sha256_of_json(
        {
            "signer_id": signature.signer_id,
            "signer_name": signature.signer_name,
            "signed_at": timestamp_text(signature.signed_at),
            "meaning": signature.meaning,
            "study": signature.study.identifier if signature.study else None,
            "record_type": signature.record_type,
            "record_id": signature.record_id,
            "content_sha256": signature.content_sha256,
        }
    )


def _refuse(signer: User, study: Study | None, record: tuple[str, str], why: str) -> None:
    # Recorded in its own transaction so that the refusal is kept even though nothing is signed;
    # the trail keeps the English sentence, the person reads it in their language.
    with transaction.atomic():
        audit_record(
            actor=signer,
            action="signature.refused",
            target=record,
            new={"reason": why},
            chain=study.audit_chain if study else "system",
        )
    raise ValidationError(_(why))


def _signer_check(
    signer: User,
    *,
    password: str,
    totp_code: str,
    meaning: str,
    study: Study | None,
    record: tuple[str, str],
) -> None:
    """Refuse a signer whose password (or TOTP code when enrolled) or meaning is wrong."""
    if not signer.is_active or not signer.check_password(password):
        _refuse(signer, study, record, gettext_noop("The password is wrong; nothing was signed."))
    if two_factor_enrolled(signer):
        code = "".join(totp_code.split())
        if not any(
            d.verify_token(code) for d in TOTPDevice.objects.filter(user=signer, confirmed=True)
        ):
            _refuse(
                signer,
                study,
                record,
                gettext_noop("The authenticator code is wrong or expired; nothing was signed."),
            )
    if meaning not in signature_meanings(study):
        _refuse(
            signer,
            study,
            record,
            gettext_noop("Choose the meaning of the signature from the study's list."),
        )


def _signature_write(
    signer: User, *, meaning: str, study: Study | None, record: tuple[str, str], content: Any
) -> Signature:
    signature = Signature(
        signer=signer,
        signer_name=signer.display_name(),
        signed_at=utc_now(),
        meaning=meaning,
        study=study,
        record_type=record[0],
        record_id=record[1],
        content_sha256=content_digest(content),
    )
    signature.binding_hash = _binding(signature)
    signature.save()
    audit_record(
        actor=signer,
        action="signature.applied",
        target=record,
        new={
            "signer": signature.signer_name,
            "meaning": meaning,
            "content_sha256": signature.content_sha256,
            "binding_hash": signature.binding_hash,
        },
        chain=study.audit_chain if study else "system",
    )
    return signature


def signature_apply(
    *,
    signer: User,
    password: str,
    totp_code: str = "",
    meaning: str,
    study: Study | None,
    record_type: str,
    record_id: str,
    content: Any,
) -> Signature:
    """Sign a record's content, after checking the signer's password (and TOTP when enrolled)."""
    record = (record_type, str(record_id))
    _signer_check(
        signer, password=password, totp_code=totp_code, meaning=meaning, study=study, record=record
    )
    with transaction.atomic():
        return _signature_write(
            signer, meaning=meaning, study=study, record=record, content=content
        )


def study_mode_change_signed(
    *,
    actor: User,
    study: Study,
    mode: str,
    reason: str,
    password: str,
    totp_code: str = "",
    meaning: str = MODE_CHANGE_MEANING,
) -> Study:
    """Move the study to another mode under the actor's e-signature, with a reason.

    What people do on the page, the API and the command line. A move that would be refused is
    refused before anything is signed; the signature and the move are then one transaction, and
    the move's audit event names the signature.
    """
    require(actor, Action.MANAGE_STUDY, study=study)
    study = Study.objects.get(pk=study.pk)  # what is signed is the mode the study is in now
    study_mode_move_check(study=study, mode=mode, reason=reason, signed=True)
    record = ("study.mode", study.identifier)
    _signer_check(
        actor, password=password, totp_code=totp_code, meaning=meaning, study=study, record=record
    )
    content = {"study": study.identifier, "from": study.mode, "to": mode, "reason": reason.strip()}
    with transaction.atomic():
        signature = _signature_write(
            actor, meaning=meaning, study=study, record=record, content=content
        )
        return study_mode_change(
            actor=actor,
            study=study,
            mode=mode,
            reason=reason,
            signature={
                "signer": signature.signer_name,
                "meaning": signature.meaning,
                "binding_hash": signature.binding_hash,
            },
        )


def signature_verify(
    signature: Signature, *, record_type: str, record_id: str, content: Any
) -> bool:
    """Return whether a signature belongs to this record and this content, untouched."""
    return (
        signature.record_type == record_type
        and signature.record_id == str(record_id)
        and signature.content_sha256 == content_digest(content)
        and signature.binding_hash == _binding(signature)
    )


def signatures_of(record_type: str, record_id: str) -> list[Signature]:
    return list(
        Signature.objects.filter(record_type=record_type, record_id=str(record_id)).select_related(
            "signer"
        )
    )
