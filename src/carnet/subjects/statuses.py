"""A subject's two statuses and their state machines, kept apart on purpose.

Stopping treatment is not leaving the study: the study status says where the subject stands in
the study (still followed or not), the treatment status whether they receive the study treatment.
Each machine is a table of allowed moves; anything else is refused with the reason.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from carnet.core.errors import ValidationError


# The labels of the statuses that refusals name are in the person's language.
class StudyStatus(models.TextChoices):
    SCREENED = "screened", gettext_lazy("screened")
    SCREEN_FAILURE = "screen_failure", gettext_lazy("screen failure")
    INCLUDED = "included", gettext_lazy("included")
    IN_FOLLOW_UP = "in_follow_up", gettext_lazy("in follow-up")
    COMPLETED = "completed", gettext_lazy("completed")
    WITHDRAWN = "withdrawn", gettext_lazy("withdrawn")
    LOST_TO_FOLLOW_UP = "lost_to_follow_up", gettext_lazy("lost to follow-up")
    DECEASED = "deceased", gettext_lazy("deceased")


class TreatmentStatus(models.TextChoices):
    NOT_STARTED = "not_started", gettext_lazy("not started")
    ON_TREATMENT = "on_treatment", gettext_lazy("on treatment")
    OFF_TREATMENT = "off_treatment", gettext_lazy("off treatment")


class OffTreatmentReason(models.TextChoices):
    COMPLETED = "completed", gettext_lazy("treatment completed per protocol")
    PROGRESSION = "progression", gettext_lazy("disease progression")
    TOXICITY = "toxicity", gettext_lazy("unacceptable toxicity")
    PATIENT_DECISION = "patient_decision", gettext_lazy("patient decision")
    CONSENT_WITHDRAWN = "consent_withdrawn", gettext_lazy("consent to treatment withdrawn")
    INVESTIGATOR_DECISION = "investigator_decision", gettext_lazy("investigator decision")
    DEATH = "death", gettext_lazy("death")
    OTHER = "other", gettext_lazy("other")


class StatusReason(models.TextChoices):
    """Why Carnet itself moved a status (a person's reasons are stored as typed)."""

    TREATMENT_STOPPED = "treatment_stopped", gettext_lazy("treatment stopped")
    CONSENT_WITHDRAWN_TREATMENT = (
        "consent_withdrawn_treatment",
        gettext_lazy("consent withdrawn from treatment"),
    )
    CONSENT_WITHDRAWN_FOLLOW_UP = (
        "consent_withdrawn_follow_up",
        gettext_lazy("consent withdrawn from follow-up"),
    )
    CONSENT_WITHDRAWN_DATA_USE = (
        "consent_withdrawn_data_use",
        gettext_lazy("objection to further use of data"),
    )

    @classmethod
    def of_withdrawal(cls, kind: str) -> StatusReason:
        return cls(f"consent_withdrawn_{kind}")


# What the history held before Carnet stored its reasons as codes: the English it wrote.
_WRITTEN_IN_ENGLISH = {
    "treatment stopped": StatusReason.TREATMENT_STOPPED,
    "consent withdrawn (treatment)": StatusReason.CONSENT_WITHDRAWN_TREATMENT,
    "consent withdrawn (follow_up)": StatusReason.CONSENT_WITHDRAWN_FOLLOW_UP,
    "consent withdrawn (data_use)": StatusReason.CONSENT_WITHDRAWN_DATA_USE,
}


def status_reason_text(reason: str) -> str:
    """Return the reason of a status change in the reader's language: Carnet's own reasons
    (stored as codes, or as the English of older rows) translated, a person's as typed."""
    known = _WRITTEN_IN_ENGLISH.get(reason, reason)
    for choices in (StatusReason, OffTreatmentReason):
        if known in choices.values:
            return str(choices(known).label)
    return reason


class EligibilityReviewStatus(models.TextChoices):
    NOT_REQUIRED = "not_required", gettext_lazy("not required")
    PENDING = "pending", gettext_lazy("pending")
    APPROVED = "approved", gettext_lazy("approved")
    REJECTED = "rejected", gettext_lazy("rejected")


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
    StudyStatus.SCREEN_FAILURE: gettext_lazy("a screen failure was never included"),
    StudyStatus.COMPLETED: gettext_lazy("the subject has completed the study"),
    StudyStatus.WITHDRAWN: gettext_lazy("the subject has withdrawn"),
    StudyStatus.DECEASED: gettext_lazy("the subject is deceased"),
}


def _label(choices: type[models.TextChoices], value: str) -> str:
    return str(dict(choices.choices).get(value, value))


def check_study_move(old: str, new: str) -> None:
    """Raise ValidationError, saying why, unless the study status may move from old to new."""
    # Refusals start with the field they concern, outside the translated text, so that the
    # pages can put them next to it in any language.
    if new not in StudyStatus.values:
        raise ValidationError(
            "status: " + _("%(value)s is not a study status.") % {"value": repr(new)}
        )
    if new in STUDY_MOVES.get(old, frozenset()):
        return
    a, b = _label(StudyStatus, old), _label(StudyStatus, new)
    if old == new:
        raise ValidationError("status: " + _("the subject is already %(status)s.") % {"status": a})
    if old in TERMINAL:
        why = _WHY_TERMINAL[StudyStatus(old)]
        raise ValidationError(
            "status: "
            + _("cannot move from %(old)s to %(new)s: %(why)s.") % {"old": a, "new": b, "why": why}
        )
    allowed = ", ".join(sorted(_label(StudyStatus, s) for s in STUDY_MOVES[old]))
    raise ValidationError(
        "status: "
        + _("cannot move from %(old)s to %(new)s; from %(old)s only to: %(allowed)s.")
        % {"old": a, "new": b, "allowed": allowed}
    )


def check_treatment_move(old: str, new: str, *, study_status: str, reason: str) -> None:
    """Raise ValidationError, saying why, unless the treatment status may move from old to new."""
    if new not in TreatmentStatus.values:
        raise ValidationError(
            "treatment_status: " + _("%(value)s is not a treatment status.") % {"value": repr(new)}
        )
    if study_status not in ACTIVE:
        raise ValidationError(
            "treatment_status: "
            + _(
                "treatment can change only for an included subject or one in follow-up; this "
                "subject is %(status)s."
            )
            % {"status": _label(StudyStatus, study_status)}
        )
    a, b = _label(TreatmentStatus, old), _label(TreatmentStatus, new)
    if new not in TREATMENT_MOVES.get(old, frozenset()):
        if old == new:
            raise ValidationError(
                "treatment_status: " + _("the subject is already %(status)s.") % {"status": a}
            )
        raise ValidationError(
            "treatment_status: "
            + _(
                "cannot move from %(old)s to %(new)s; a treatment that has stopped does not "
                "restart in the study."
            )
            % {"old": a, "new": b}
        )
    if new == TreatmentStatus.OFF_TREATMENT and reason not in OffTreatmentReason.values:
        reasons = ", ".join(OffTreatmentReason.values)
        raise ValidationError(
            "off_treatment_reason: "
            + _("say why treatment stopped (%(reasons)s).") % {"reasons": reasons}
        )
