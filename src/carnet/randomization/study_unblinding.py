"""The unblinding of a whole study (the end of the blind, for the final analysis), and whether
it may happen now, as other apps decide it: a registry of checks, each returning why not (""
when it allows).

The database lock registers its check from its AppConfig.ready: a study is unblinded only once
its database is locked. `study_unblind` asks every check first; the sponsor (or the data
manager for it) signs the act with a reason, it is audited, and from then on the blinding
policy shows the arms to every person of the study (`Study.unblinded_at`). It is never undone:
a database unlocked after it leaves the study unblinded.
"""

from __future__ import annotations

from collections.abc import Callable

from django.db import transaction
from django.utils.translation import gettext as _

from carnet.accounts.models import User
from carnet.accounts.permissions import PermissionDenied, site_scope
from carnet.accounts.roles import Action
from carnet.accounts.signatures import DEFAULT_MEANINGS, signature_apply
from carnet.audit.services import audit_record
from carnet.core.errors import ValidationError
from carnet.randomization.models import StudyUnblinding
from carnet.studies.models import Study

STUDY_UNBLINDING_MEANING = DEFAULT_MEANINGS[6]  # "I authorise the unblinding of this study."
RECORD_TYPE = "study_unblinding"

StudyUnblindingCheck = Callable[[Study], str]
STUDY_UNBLINDING_CHECKS: list[StudyUnblindingCheck] = []


def register_study_unblinding_check(check: StudyUnblindingCheck) -> StudyUnblindingCheck:
    """Let ``check`` refuse the unblinding of a whole study (called from an AppConfig.ready)."""
    if check not in STUDY_UNBLINDING_CHECKS:
        STUDY_UNBLINDING_CHECKS.append(check)
    return check


def study_unblinding_refusals(study: Study) -> list[str]:
    """Return every reason the study may not be unblinded now (none: it may)."""
    return [refusal for check in STUDY_UNBLINDING_CHECKS if (refusal := check(study))]


def study_unblinding_require(study: Study) -> None:
    """Refuse the unblinding of the whole study while a registered check says no."""
    refusals = study_unblinding_refusals(study)
    if refusals:
        raise ValidationError(" ".join(refusals))


def study_unblinding_of(study: Study) -> StudyUnblinding | None:
    """Return the study's unblinding, if it happened."""
    return StudyUnblinding.objects.filter(study=study).first()


def may_unblind_study(actor: User, study: Study) -> bool:
    """Return whether the person may unblind the study (for every site: sponsor, data manager)."""
    return site_scope(actor, Action.UNBLIND_STUDY, study=study).all_sites


def _refuse_if_unblinded(study: Study) -> None:
    if study.unblinded_at is not None:
        raise ValidationError(
            _("%(study)s is already unblinded; nothing was signed.") % {"study": study.identifier}
        )


def study_unblind(
    *,
    actor: User,
    study: Study,
    reason: str,
    password: str,
    meaning: str,
    totp_code: str = "",
    basis: str = "",
) -> StudyUnblinding:
    """End the blind of the whole study under the actor's e-signature, with a reason: refused
    to anyone but the sponsor or a data manager of every site, and while a registered check
    says no (before the database lock). ``basis`` names what allows it (the lock, DBLOCK-N)."""
    if not may_unblind_study(actor, study):
        raise PermissionDenied(
            _("Only the sponsor or a data manager of the whole study may unblind %(study)s.")
            % {"study": study.identifier}
        )
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError(_("reason: give a reason; it is kept in the audit trail."))
    study = Study.objects.get(pk=study.pk)
    _refuse_if_unblinded(study)
    study_unblinding_require(study)  # refused before anything is signed
    # Accounts checks and records the e-signature in its own transaction (a refused attempt
    # stays in the trail); the unblinding follows, checked again under the study's row lock.
    signature = signature_apply(
        signer=actor,
        password=password,
        totp_code=totp_code,
        meaning=meaning,
        study=study,
        record_type=RECORD_TYPE,
        record_id=study.identifier,
        content={"study": study.identifier, "basis": basis, "reason": reason},
    )
    with transaction.atomic():
        study = Study.objects.select_for_update().get(pk=study.pk)
        _refuse_if_unblinded(study)
        study_unblinding_require(study)
        unblinding = StudyUnblinding.objects.create(
            study=study,
            reason=reason,
            basis=basis,
            by_id=actor.pk,
            by=actor.display_name(),
            at=signature.signed_at,
            signature=signature,
        )
        Study.objects.filter(pk=study.pk).update(unblinded_at=signature.signed_at)
        audit_record(
            actor=actor,
            action="study.unblinded",
            target=unblinding,
            old={"unblinded": False},
            new={
                "unblinded": True,
                "basis": basis,
                "meaning": signature.meaning,
                "binding_hash": signature.binding_hash,
            },
            reason=reason,
            chain=study.audit_chain,
        )
    return unblinding
