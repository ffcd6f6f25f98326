"""Emergency and pharmacovigilance unblinding of one subject (issue 17 item 5).

Emergency: an investigator of the subject's site, with a reason, an e-signature and a second
confirmation, reveals the subject's arm. The allocation records when (``unblinded_at``); from then
on the subject shows as unblinded everywhere and the policy (`allocation_arm`) reveals that
subject's arm — that subject's only — to the people of that site (and to unblinded roles, who
always saw it). The sponsor's contacts (the study's pharmacovigilance and sponsor roles) are told
through the outbox. Pharmacovigilance unblinding: a pharmacovigilance officer, for one case (a
suspected unexpected serious adverse reaction) and a reason, reads the arm; a record is kept per
request and audited; from then on the pharmacovigilance role reads that subject's arm and no
other's (it is blinded otherwise); the study team stays blinded (``unblinded_at`` is not set).
"""

from __future__ import annotations

from django.db import transaction
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from carnet.accounts.blinding import blinding_of
from carnet.accounts.models import User
from carnet.accounts.permissions import PermissionDenied, memberships_in_force
from carnet.accounts.roles import Role
from carnet.accounts.selectors import site_members
from carnet.accounts.signatures import signature_apply
from carnet.audit.services import audit_record
from carnet.core.clock import utc_now
from carnet.core.errors import ValidationError
from carnet.messaging.services import message_send, recipient_language
from carnet.randomization.models import Allocation, Unblinding
from carnet.randomization.selectors import holds_pharmacovigilance
from carnet.subjects.environments import Environment
from carnet.subjects.models import Subject

UNBLINDING_MEANING = gettext_noop("I request the emergency unblinding of this subject.")
SPONSOR_CONTACT_ROLES = (Role.PHARMACOVIGILANCE, Role.SPONSOR)


class UnblindingRefused(ValidationError):
    """An unblinding was refused; ``code`` says which refusal. Its message never names an arm."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"unblinding: {message}")
        self.code = code


def _on_site_team(person: User, subject: Subject) -> bool:
    """Return whether the person holds a role at the subject's site (not an all-sites one)."""
    return any(
        m.site_id == subject.site_id for m in memberships_in_force(person, study=subject.study)
    )


def _pharmacovigilance_case(person: User, allocation: Allocation) -> bool:
    """Return whether the person is pharmacovigilance and the subject is one of its cases."""
    return holds_pharmacovigilance(person, allocation.study) and (
        Unblinding.objects.filter(
            allocation=allocation, kind=Unblinding.Kind.PHARMACOVIGILANCE
        ).exists()
    )


def allocation_arm(person: User, allocation: Allocation) -> str:
    """Return the allocation's arm as the person may read it: unblinded roles always; the people
    of the subject's site once the subject was unblinded in an emergency; pharmacovigilance for
    a subject it unblinded for a case; otherwise masked."""
    blinding = blinding_of(person, study=allocation.study)
    if blinding.unblinded:
        return allocation.arm
    if allocation.unblinded_at is not None and _on_site_team(person, allocation.subject):
        return allocation.arm
    if _pharmacovigilance_case(person, allocation):
        return allocation.arm
    return blinding.arm(allocation.arm)


def _allocation_of(subject: Subject) -> Allocation:
    allocation = (
        Allocation.objects.select_for_update()
        .select_related("study", "subject__site")
        .filter(subject=subject)
        .first()
    )
    if allocation is None:
        raise UnblindingRefused(
            "not_randomised",
            _("%(identifier)s is not randomised.") % {"identifier": subject.identifier},
        )
    return allocation


def _already_or_not_randomised(subject: Subject, allocation: Allocation | None) -> None:
    if allocation is None:
        raise UnblindingRefused(
            "not_randomised",
            _("%(identifier)s is not randomised.") % {"identifier": subject.identifier},
        )
    raise UnblindingRefused(
        "already_unblinded",
        _("%(identifier)s is already unblinded.") % {"identifier": subject.identifier},
    )


def _reason_checked(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise UnblindingRefused("no_reason", _("give the reason for the unblinding."))
    return reason


def emergency_unblind(
    *,
    actor: User,
    subject: Subject,
    reason: str,
    password: str,
    confirmed: bool,
    totp_code: str = "",
) -> Allocation:
    """Unblind one subject in an emergency; return the allocation (its arm in ``arm``).

    Refused (nothing written) unless the actor is an investigator of the subject's site, gives
    a reason, confirms a second time and signs (password, TOTP when enrolled); refused for a
    subject not randomised or already unblinded.
    """
    if actor not in site_members(
        study=subject.study, site=subject.site_id, roles=[Role.INVESTIGATOR]
    ):
        raise PermissionDenied(
            _("Only an investigator of the subject's site may unblind it in an emergency.")
        )
    reason = _reason_checked(reason)
    if not confirmed:
        raise UnblindingRefused(
            "not_confirmed", _("confirm the unblinding a second time: it cannot be undone.")
        )
    allocation = Allocation.objects.filter(subject=subject).first()
    if allocation is None or allocation.unblinded_at is not None:
        _already_or_not_randomised(subject, allocation)
    # Signed before the write (outside its transaction), so that a refused signature is kept
    # in the audit trail; the checks are made again under the lock below.
    signature = signature_apply(
        signer=actor,
        password=password,
        totp_code=totp_code,
        meaning=UNBLINDING_MEANING,
        study=subject.study,
        record_type="randomisation.unblinding",
        record_id=str(allocation.pk),  # type: ignore[union-attr]
        content={"subject": subject.identifier, "reason": reason},
    )
    with transaction.atomic():
        allocation = _allocation_of(subject)
        if allocation.unblinded_at is not None:
            _already_or_not_randomised(subject, allocation)
        now = utc_now()
        allocation.unblinded_at = now
        allocation.save(update_fields=["unblinded_at"])
        record = Unblinding.objects.create(
            allocation=allocation,
            kind=Unblinding.Kind.EMERGENCY,
            reason=reason,
            by_id=actor.pk,
            by=actor.get_username(),
            at=now,
            signature=signature,
        )
        audit_record(
            actor=actor,
            action="randomisation.unblinded",
            target=allocation,
            new={
                "subject": subject.identifier,
                "kind": record.kind,
                "reason": reason,
                "signature": signature.pk,
            },
            chain=allocation.study.audit_chain,
        )
        _sponsor_notify(allocation, actor, reason)
    return allocation


def _sponsor_notify(allocation: Allocation, actor: User, reason: str) -> None:
    subject = allocation.subject
    words = {
        "study": allocation.study.identifier,
        "subject": subject.identifier,
        "by": actor.get_full_name() or actor.get_username(),
        "reason": reason,
        "number": allocation.number,
    }
    for recipient in site_members(
        study=allocation.study, site=subject.site_id, roles=SPONSOR_CONTACT_ROLES
    ):
        language = recipient_language(recipient)
        with translation.override(language):
            title = _("%(study)s: emergency unblinding of %(subject)s") % words
            lines = [
                _(
                    "%(by)s unblinded subject %(subject)s (allocation %(number)s) of study "
                    "%(study)s in an emergency."
                )
                % words,
                _("Reason: %(reason)s") % words,
            ]
            arm = allocation_arm(recipient, allocation)
            if arm == allocation.arm:
                lines.append(_("Arm: %(arm)s") % {"arm": arm})
            if subject.environment == Environment.TEST:
                lines.append(_("Test data: the study is in test mode."))
        message_send(recipient=recipient, subject=title, body="\n".join(lines), language=language)


def pharmacovigilance_unblind(
    *, actor: User, subject: Subject, reason: str, case_reference: str
) -> str:
    """Reveal the subject's arm to a pharmacovigilance officer for one case; return the arm.

    Recorded (one record per request, audited); the study team stays blinded.
    """
    if not holds_pharmacovigilance(actor, subject.study):
        raise PermissionDenied(
            _("Only the pharmacovigilance role may unblind a subject for a case.")
        )
    reason = _reason_checked(reason)
    case_reference = (case_reference or "").strip()
    if not case_reference:
        raise UnblindingRefused("no_case", _("give the reference of the pharmacovigilance case."))
    with transaction.atomic():
        allocation = _allocation_of(subject)
        Unblinding.objects.create(
            allocation=allocation,
            kind=Unblinding.Kind.PHARMACOVIGILANCE,
            reason=reason,
            case_reference=case_reference[:100],
            by_id=actor.pk,
            by=actor.get_username(),
            at=utc_now(),
        )
        audit_record(
            actor=actor,
            action="randomisation.pharmacovigilance_unblinded",
            target=allocation,
            new={"subject": subject.identifier, "case": case_reference, "reason": reason},
            chain=allocation.study.audit_chain,
        )
    return allocation.arm
