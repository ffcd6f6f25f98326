"""Whether a study may be unblinded as a whole (the end of the blind for the final analysis),
as other apps decide it: a registry of checks, each returning why not ("" when it allows).

The database lock registers its check from its AppConfig.ready: a study is unblinded only once
its database is locked. Whatever unblinds a whole study calls `study_unblinding_require` first.
"""

from __future__ import annotations

from collections.abc import Callable

from carnet.core.errors import ValidationError
from carnet.studies.models import Study

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
