"""The statistical analysis plan's choices, as one typed object printed with every result."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from carnet.analysis.errors import AnalysisInputError


class IntervalTransform(StrEnum):
    """Scale on which the Greenwood interval of a Kaplan-Meier estimate is built."""

    LOG_LOG = "log-log"  # SAS PROC LIFETEST, Stata and lifelines default
    LOG = "log"  # R survfit default
    PLAIN = "plain"  # linear; can leave [0, 1], so it is clipped


class Convention(StrEnum):
    """One choice of the plan a result may depend on; a result prints only those it used."""

    CONFIDENCE_LEVEL = "confidence-level"
    INTERVAL_TRANSFORM = "interval-transform"
    COX_TIES = "cox-ties"
    REFERENCE_ARM = "reference-arm"
    PROGRESSION_FREE = "progression-free"
    RESPONSE = "response"
    TREATMENT_EMERGENT = "treatment-emergent"


class CoxTies(StrEnum):
    """Approximation of the Cox partial likelihood when events share a time."""

    EFRON = "efron"  # R coxph and lifelines default
    BRESLOW = "breslow"  # SAS PROC PHREG default


@dataclass(frozen=True)
class ProgressionFreeRules:
    """Censoring rules for progression-free survival (FDA 2018 endpoints guidance, table A).

    Parameters
    ----------
    censor_at_new_anticancer_therapy
        Censor at the last adequate assessment before a new anticancer therapy started
        before progression or death.
    missed_assessments
        Censor an event seen after this many consecutive missed assessments at the last adequate
        assessment before it; ``None`` keeps every event.
    assessment_interval_days
        Planned days between tumour assessments.
    assessment_window_days
        Tolerance added to the missed-assessment gap, as the protocol's visit window.
    """

    censor_at_new_anticancer_therapy: bool = True
    missed_assessments: int | None = 2
    assessment_interval_days: int = 56
    assessment_window_days: int = 7

    def __post_init__(self) -> None:
        if self.missed_assessments is not None and self.missed_assessments < 1:
            raise AnalysisInputError(
                "missed_assessments must be at least 1 (or None to keep every event).",
                parameter="missed_assessments",
            )
        if self.assessment_interval_days <= 0:
            raise AnalysisInputError(
                "assessment_interval_days must be positive.", parameter="assessment_interval_days"
            )
        if self.assessment_window_days < 0:
            raise AnalysisInputError(
                "assessment_window_days cannot be negative.", parameter="assessment_window_days"
            )

    def describe(self) -> str:
        """Return the rules as one sentence for the footnote of an output."""
        therapy = (
            "censored at the last adequate assessment before a new anticancer therapy"
            if self.censor_at_new_anticancer_therapy
            else "new anticancer therapy ignored"
        )
        missed = (
            f"events after {self.missed_assessments} or more missed assessments "
            f"(every {self.assessment_interval_days} days, window {self.assessment_window_days}) "
            "censored at the last adequate assessment"
            if self.missed_assessments is not None
            else "events kept whatever the missed assessments"
        )
        return f"PFS: {therapy}; {missed}."


@dataclass(frozen=True)
class ResponseRules:
    """RECIST 1.1 best-overall-response rules.

    Parameters
    ----------
    confirmation
        Require a CR or PR to be confirmed by a later assessment (single-arm trials).
    confirmation_interval_days
        Least days between a response and the assessment that confirms it (RECIST: 4 weeks).
    minimum_stable_disease_days
        Least days from the reference date (randomisation) to an assessment for SD to count.
    """

    confirmation: bool = True
    confirmation_interval_days: int = 28
    minimum_stable_disease_days: int = 42

    def __post_init__(self) -> None:
        if self.confirmation_interval_days < 0:
            raise AnalysisInputError(
                "confirmation_interval_days cannot be negative.",
                parameter="confirmation_interval_days",
            )
        if self.minimum_stable_disease_days < 0:
            raise AnalysisInputError(
                "minimum_stable_disease_days cannot be negative.",
                parameter="minimum_stable_disease_days",
            )

    def describe(self) -> str:
        """Return the rules as one sentence for the footnote of an output."""
        confirmation = (
            f"CR/PR confirmed at least {self.confirmation_interval_days} days later"
            if self.confirmation
            else "CR/PR without confirmation"
        )
        return (
            f"RECIST 1.1: {confirmation}; SD at least {self.minimum_stable_disease_days} days "
            "after randomisation."
        )


@dataclass(frozen=True)
class AnalysisSettings:
    """The statistical analysis plan's choices, passed to every computation.

    Parameters
    ----------
    confidence_level
        Two-sided coverage of every interval, in (0, 1).
    interval_transform
        Transform of the Kaplan-Meier Greenwood interval (log-log by default, as SAS and Stata).
    ties
        Cox partial-likelihood approximation for tied event times (Efron by default).
    reference_arm
        Arm against which hazard ratios are expressed; ``None`` takes the first in sort order.
    progression_free
        PFS censoring rules.
    response
        RECIST confirmation and minimum stable-disease duration.
    treatment_emergent_days
        An adverse event is treatment-emergent from the first dose to this many days after the
        last dose.

    Examples
    --------
    >>> settings = AnalysisSettings(interval_transform=IntervalTransform.LOG)
    >>> print(settings.describe().splitlines()[0])
    Confidence level 95%; Kaplan-Meier interval: Greenwood, log transform; Cox ties: Efron.
    >>> AnalysisSettings(confidence_level=1.5)
    Traceback (most recent call last):
    ...
    carnet.analysis.errors.AnalysisInputError: confidence_level must lie strictly ... got 1.5.
    """

    confidence_level: float = 0.95
    interval_transform: IntervalTransform = IntervalTransform.LOG_LOG
    ties: CoxTies = CoxTies.EFRON
    reference_arm: str | None = None
    progression_free: ProgressionFreeRules = field(default_factory=ProgressionFreeRules)
    response: ResponseRules = field(default_factory=ResponseRules)
    treatment_emergent_days: int = 30

    def __post_init__(self) -> None:
        if not 0.0 < self.confidence_level < 1.0:
            raise AnalysisInputError(
                f"confidence_level must lie strictly between 0 and 1, got {self.confidence_level}.",
                parameter="confidence_level",
            )
        if self.treatment_emergent_days < 0:
            raise AnalysisInputError(
                "treatment_emergent_days cannot be negative.", parameter="treatment_emergent_days"
            )
        # Accept plain strings from YAML or a form, but store the enum so printing is uniform.
        object.__setattr__(self, "interval_transform", IntervalTransform(self.interval_transform))
        object.__setattr__(self, "ties", CoxTies(self.ties))

    def describe(self, *conventions: Convention) -> str:
        """Return the lines stating the given conventions (all of the plan when none is given).

        A result passes the conventions it used, so that a Kaplan-Meier table does not print the
        Cox ties or the PFS censoring rules.

        Examples
        --------
        >>> print(AnalysisSettings().describe(Convention.COX_TIES, Convention.REFERENCE_ARM))
        Cox ties: Efron.
        Reference arm: first in order.
        """
        used = set(conventions) if conventions else set(Convention)
        first = []
        if Convention.CONFIDENCE_LEVEL in used:
            first.append(f"Confidence level {self.confidence_level * 100:g}%")
        if Convention.INTERVAL_TRANSFORM in used:
            first.append(
                f"Kaplan-Meier interval: Greenwood, {self.interval_transform.value} transform"
            )
        if Convention.COX_TIES in used:
            first.append(f"Cox ties: {self.ties.value.capitalize()}")
        lines = ["; ".join(first) + "."] if first else []
        if Convention.REFERENCE_ARM in used:
            reference = self.reference_arm if self.reference_arm is not None else "first in order"
            lines.append(f"Reference arm: {reference}.")
        if Convention.PROGRESSION_FREE in used:
            lines.append(self.progression_free.describe())
        if Convention.RESPONSE in used:
            lines.append(self.response.describe())
        if Convention.TREATMENT_EMERGENT in used:
            lines.append(
                f"Adverse events treatment-emergent from first dose to last dose + "
                f"{self.treatment_emergent_days} days."
            )
        return "\n".join(lines)


DEFAULT_SETTINGS = AnalysisSettings()
