"""Reads for randomisation: a subject's factor levels from the casebook, allocations, counts.

The arm of an allocation leaves this module as stored; whoever shows it passes it through the
blinding policy (`Blinding.arm`). Unused list entries are read only by the allocation service.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django.db.models import Count
from django.utils.translation import gettext as _

from carnet.accounts.models import User
from carnet.accounts.permissions import may, memberships_in_force, require
from carnet.accounts.roles import Action, Role
from carnet.capture.models import ItemValue
from carnet.core.errors import ValidationError
from carnet.randomization.minimisation import MarginalCounts
from carnet.randomization.models import Allocation, AllocationList, Unblinding
from carnet.studies.definition.model import RandomisationScheme, StudyDefinition
from carnet.studies.models import Study, StudyMode
from carnet.subjects.models import Subject
from carnet.subjects.services import environment_refusal
from carnet.subjects.statuses import ACTIVE, StudyStatus


class RandomisationRefused(ValidationError):
    """A randomisation was refused; ``code`` says which refusal (the API maps it to a status).

    Its message never names an arm: it may be shown to a blinded person as it is.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"randomisation: {message}")
        self.code = code


def definition_and_scheme(study: Study) -> tuple[StudyDefinition, RandomisationScheme]:
    """Return the study's current definition and its scheme; refuse when there is none."""
    if study.current_version is None:
        raise RandomisationRefused(
            "no_scheme",
            _("%(study)s has no published version.") % {"study": study.identifier},
        )
    definition = study.current_version.parsed()
    scheme = definition.randomisation_scheme()
    if scheme is None:
        raise RandomisationRefused(
            "no_scheme",
            _("%(study)s declares no randomisation scheme.") % {"study": study.identifier},
        )
    return definition, scheme


def subject_refusal(subject: Subject) -> tuple[str, str] | None:
    """Return why the subject cannot be randomised now (a code and a sentence), or None."""
    words = {"identifier": subject.identifier}
    if subject.study.mode not in (StudyMode.TEST, StudyMode.PRODUCTION):
        return "study_mode", _("the study is not open to randomisation (mode %(mode)s).") % {
            "mode": subject.study.get_mode_display()
        }
    refusal = environment_refusal(subject)
    if refusal:
        return "environment", refusal + "."
    if subject.study_status == StudyStatus.SCREENED:
        return "ineligible", _(
            "%(identifier)s awaits the central eligibility review: only an eligible subject is "
            "randomised."
        ) % words
    criteria = subject.eligibility.get("criteria", [])
    not_met = [c.get("name", "") for c in criteria if c.get("met") is False]
    if subject.study_status == StudyStatus.SCREEN_FAILURE or not_met:
        return "ineligible", _("%(identifier)s is not eligible.") % words
    if subject.withdrawals.exists():
        return "withdrawn", _("%(identifier)s has withdrawn consent.") % words
    if subject.study_status not in ACTIVE:
        return "withdrawn", _("%(identifier)s is no longer in the study (%(status)s).") % {
            **words,
            "status": subject.get_study_status_display(),
        }
    if not subject.consents.exists():
        return "unconsented", _("%(identifier)s has no signed consent recorded.") % words
    if subject.randomised_on is not None or Allocation.objects.filter(subject=subject).exists():
        return "already_randomised", _("%(identifier)s is already randomised.") % words
    return None


def factor_levels(
    subject: Subject, scheme: RandomisationScheme, definition: StudyDefinition
) -> dict[str, str | None]:
    """Return each factor's level for the subject: the site's code, or the item's stored code.

    An item entered at several visits counts as entered at its first (in the study's order of
    events, then occurrence): the value known when the subject came to be randomised. A blank or
    missing-coded value is None.
    """
    names = [factor.name for factor in scheme.factors if factor.name != "site"]
    event_order = {event.name: index for index, event in enumerate(definition.events)}
    found: dict[str, tuple[tuple[int, int, int], str]] = {}
    rows = ItemValue.objects.filter(
        form_instance__subject=subject,
        form_instance__environment=subject.environment,
        item__in=names,
        removed=False,
    ).values_list(
        "item",
        "text",
        "missing_code",
        "form_instance__event",
        "form_instance__occurrence",
        "form_instance__repeat",
    )
    for item, text, missing, event, occurrence, repeat in rows:
        if missing or not text:
            continue
        place = (event_order.get(event, len(event_order)), occurrence, repeat)
        if item not in found or place < found[item][0]:
            found[item] = (place, text)
    levels: dict[str, str | None] = {}
    for factor in scheme.factors:
        if factor.name == "site":
            levels["site"] = subject.site.code
        else:
            levels[factor.name] = found[factor.name][1] if factor.name in found else None
    return levels


def stratum_key(levels: dict[str, str]) -> str:
    """Return a stratum's name: ``site=01|smoker=1`` in the scheme's order, ``all`` without."""
    return "|".join(f"{name}={level}" for name, level in levels.items()) or "all"


def allocation_of(actor: User, subject: Subject) -> Allocation | None:
    """Return the subject's allocation, if any, for someone who may see the subject."""
    require(actor, Action.VIEW_SUBJECTS, study=subject.study, site=subject.site)
    return Allocation.objects.filter(subject=subject).first()


def marginal_counts(study: Study, environment: str) -> MarginalCounts:
    """Return the arms' counts at each factor level over the study's allocations so far."""
    counts = MarginalCounts()
    # Counted by the database per combination of levels and arm: each allocation reads them, so
    # a row per earlier allocation made randomising N subjects quadratic.
    for factors, arm, subjects in (
        Allocation.objects.filter(study=study, environment=environment)
        .order_by()
        .values("factors", "arm")
        .annotate(subjects=Count("id"))
        .values_list("factors", "arm", "subjects")
    ):
        counts.add({name: str(level) for name, level in factors.items()}, arm, subjects)
    return counts


def allocation_list_of(study: Study, environment: str) -> AllocationList | None:
    """Return the study's list in ``environment`` for its latest scheme, if one was made."""
    return (
        AllocationList.objects.filter(scheme__study=study, environment=environment)
        .order_by("-scheme__number")
        .first()
    )


@dataclass(frozen=True)
class RandomisationState:
    """What a person may see of a subject's randomisation: the arm already through blinding."""

    method: str
    levels: dict[str, str | None]
    allocated: bool
    number: int | None
    arm: str  # the arm, HIDDEN for a blinded person, "" before allocation
    randomised_on: date | None
    refusal: str  # why it cannot be randomised now ("" when it can, or once it is)
    may_randomise: bool  # the person may randomise this subject now
    kit_number: str = ""  # blinded studies with kits: shown to the site and the pharmacy
    unblinded: bool = False  # unblinded in an emergency (the site's team reads the arm)


def randomisation_state(actor: User, subject: Subject) -> RandomisationState:
    """Return the subject's randomisation as ``actor`` may see it.

    A study without a scheme is refused (`RandomisationRefused`, code ``no_scheme``).
    """
    require(actor, Action.VIEW_SUBJECTS, study=subject.study, site=subject.site)
    from carnet.randomization.unblinding import allocation_arm  # the policy for unblinded subjects

    definition, scheme = definition_and_scheme(subject.study)
    allocation = Allocation.objects.filter(subject=subject).first()
    if allocation is not None:
        return RandomisationState(
            method=allocation.method,
            levels=dict(allocation.factors),
            allocated=True,
            number=allocation.number,
            arm=allocation_arm(actor, allocation),
            randomised_on=allocation.randomised_on,
            refusal="",
            may_randomise=False,
            kit_number=allocation.kit_number,
            unblinded=allocation.unblinded_at is not None,
        )
    levels = factor_levels(subject, scheme, definition)
    found = subject_refusal(subject)
    missing = [name for name, level in levels.items() if level is None]
    refusal = found[1] if found else ""
    if not refusal and missing:
        refusal = _(
            "enter %(factors)s in the casebook first: the randomisation reads it from there."
        ) % {"factors": ", ".join(missing)}
    allowed = may(actor, Action.INCLUDE_SUBJECT, study=subject.study, site=subject.site)
    return RandomisationState(
        method=scheme.method,
        levels=levels,
        allocated=False,
        number=None,
        arm="",
        randomised_on=None,
        refusal=refusal,
        may_randomise=not refusal and allowed,
    )


def holds_pharmacovigilance(actor: User, study: Study) -> bool:
    """Return whether the person holds the pharmacovigilance role on the study today."""
    return any(m.role == Role.PHARMACOVIGILANCE for m in memberships_in_force(actor, study=study))


def pharmacovigilance_cases(actor: User, subject: Subject) -> list[Unblinding]:
    """Return the subject's pharmacovigilance unblindings (case, reason, who, when), oldest
    first: for the pharmacovigilance role only, to anyone else none."""
    if not holds_pharmacovigilance(actor, subject.study):
        return []
    return list(
        Unblinding.objects.filter(
            allocation__subject=subject, kind=Unblinding.Kind.PHARMACOVIGILANCE
        ).order_by("at")
    )
