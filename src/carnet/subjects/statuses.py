"""A subject's two statuses and their state machines, kept apart on purpose.

Stopping treatment is not leaving the study: the study status says where the subject stands in
the study (still followed or not), the treatment status whether they receive the study treatment.
Each machine is a table of allowed moves; anything else is refused with the reason.
"""

from __future__ import annotations

from django.db import models

from carnet.core.errors import ValidationError


class StudyStatus(models.TextChoices):
    SCREENED = "screened", "screened"
    SCREEN_FAILURE = "screen_failure", "screen failure"
    INCLUDED = "included", "included"
    IN_FOLLOW_UP = "in_follow_up", "in follow-up"
    COMPLETED = "completed", "completed"
    WITHDRAWN = "withdrawn", "withdrawn"
    LOST_TO_FOLLOW_UP = "lost_to_follow_up", "lost to follow-up"
    DECEASED = "deceased", "deceased"


class TreatmentStatus(models.TextChoices):
    NOT_STARTED = "not_started", "not started"
    ON_TREATMENT = "on_treatment", "on treatment"
    OFF_TREATMENT = "off_treatment", "off treatment"


class OffTreatmentReason(models.TextChoices):
    COMPLETED = "completed", "treatment completed per protocol"
    PROGRESSION = "progression", "disease progression"
    TOXICITY = "toxicity", "unacceptable toxicity"
    PATIENT_DECISION = "patient_decision", "patient decision"
    CONSENT_WITHDRAWN = "consent_withdrawn", "consent to treatment withdrawn"
    INVESTIGATOR_DECISION = "investigator_decision", "investigator decision"
    DEATH = "death", "death"
    OTHER = "other", "other"


class EligibilityReviewStatus(models.TextChoices):
    NOT_REQUIRED = "not_required", "not required"
    PENDING = "pending", "pending"
    APPROVED = "approved", "approved"
    REJECTED = "rejected", "rejected"


class WithdrawalKind(models.TextChoices):
    TREATMENT = "treatment", "stops study treatment"
    FOLLOW_UP = "follow_up", "stops follow-up"
    DATA_USE = "data_use", "objects to further use of data"


# Study status: from -> the statuses it may move to. Terminal statuses have no entry.
STUDY_MOVES: dict[str, frozenset[str]] = {
    StudyStatus.SCREENED: frozenset({StudyStatus.INCLUDED, StudyStatus.SCREEN_FAILURE}),
    StudyStatus.INCLUDED: frozenset(
        {
            StudyStatus.IN_FOLLOW_UP,
            StudyStatus.COMPLETED,
            StudyStatus.WITHDRAWN,
            StudyStatus.LOST_TO_FOLLOW_UP,
            StudyStatus.DECEASED,
        }
    ),
    StudyStatus.IN_FOLLOW_UP: frozenset(
        {
            StudyStatus.COMPLETED,
            StudyStatus.WITHDRAWN,
            StudyStatus.LOST_TO_FOLLOW_UP,
            StudyStatus.DECEASED,
        }
    ),
    # News of a subject once lost puts them back in follow-up.
    StudyStatus.LOST_TO_FOLLOW_UP: frozenset({StudyStatus.IN_FOLLOW_UP, StudyStatus.DECEASED}),
}
TERMINAL = frozenset(
    {
        StudyStatus.SCREEN_FAILURE,
        StudyStatus.COMPLETED,
        StudyStatus.WITHDRAWN,
        StudyStatus.DECEASED,
    }
)
# Statuses in which a subject is still followed: visits are due, news is expected.
ACTIVE = frozenset({StudyStatus.INCLUDED, StudyStatus.IN_FOLLOW_UP})
# Moves that only the eligibility review makes (a person cannot simply set them).
REVIEW_ONLY = frozenset({StudyStatus.INCLUDED, StudyStatus.SCREEN_FAILURE})

TREATMENT_MOVES: dict[str, frozenset[str]] = {
    TreatmentStatus.NOT_STARTED: frozenset(
        {TreatmentStatus.ON_TREATMENT, TreatmentStatus.OFF_TREATMENT}
    ),
    TreatmentStatus.ON_TREATMENT: frozenset({TreatmentStatus.OFF_TREATMENT}),
}

_WHY_TERMINAL = {
    StudyStatus.SCREEN_FAILURE: "a screen failure was never included",
    StudyStatus.COMPLETED: "the subject has completed the study",
    StudyStatus.WITHDRAWN: "the subject has withdrawn",
    StudyStatus.DECEASED: "the subject is deceased",
}


def _label(choices: type[models.TextChoices], value: str) -> str:
    return str(dict(choices.choices).get(value, value))


def check_study_move(old: str, new: str) -> None:
    """Raise ValidationError, saying why, unless the study status may move from old to new."""
    if new not in StudyStatus.values:
        raise ValidationError(f"status: {new!r} is not a study status.")
    if new in STUDY_MOVES.get(old, frozenset()):
        return
    a, b = _label(StudyStatus, old), _label(StudyStatus, new)
    if old == new:
        raise ValidationError(f"status: the subject is already {a}.")
    if old in TERMINAL:
        why = _WHY_TERMINAL[StudyStatus(old)]
        raise ValidationError(f"status: cannot move from {a} to {b}: {why}.")
    allowed = ", ".join(sorted(_label(StudyStatus, s) for s in STUDY_MOVES[old]))
    raise ValidationError(f"status: cannot move from {a} to {b}; from {a} only to: {allowed}.")


def check_treatment_move(old: str, new: str, *, study_status: str, reason: str) -> None:
    """Raise ValidationError, saying why, unless the treatment status may move from old to new."""
    if new not in TreatmentStatus.values:
        raise ValidationError(f"treatment_status: {new!r} is not a treatment status.")
    if study_status not in ACTIVE:
        raise ValidationError(
            "treatment_status: treatment can change only for an included subject or one in "
            f"follow-up; this subject is {_label(StudyStatus, study_status)}."
        )
    a, b = _label(TreatmentStatus, old), _label(TreatmentStatus, new)
    if new not in TREATMENT_MOVES.get(old, frozenset()):
        if old == new:
            raise ValidationError(f"treatment_status: the subject is already {a}.")
        raise ValidationError(
            f"treatment_status: cannot move from {a} to {b}; "
            "a treatment that has stopped does not restart in the study."
        )
    if new == TreatmentStatus.OFF_TREATMENT and reason not in OffTreatmentReason.values:
        reasons = ", ".join(OffTreatmentReason.values)
        raise ValidationError(f"off_treatment_reason: say why treatment stopped ({reasons}).")
