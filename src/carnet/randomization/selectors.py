"""Reads for randomisation: a subject's factor levels from the casebook, allocations, counts.

The arm of an allocation leaves this module as stored; whoever shows it passes it through the
blinding policy (`Blinding.arm`). Unused list entries are read only by the allocation service.
"""

from __future__ import annotations

from carnet.accounts.models import User
from carnet.accounts.permissions import require
from carnet.accounts.roles import Action
from carnet.capture.models import ItemValue
from carnet.randomization.minimisation import MarginalCounts
from carnet.randomization.models import Allocation, AllocationList
from carnet.studies.definition.model import RandomisationScheme, StudyDefinition
from carnet.studies.models import Study
from carnet.subjects.models import Subject


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
    for factors, arm in Allocation.objects.filter(study=study, environment=environment).values_list(
        "factors", "arm"
    ):
        counts.add({name: str(level) for name, level in factors.items()}, arm)
    return counts


def allocation_list_of(study: Study, environment: str) -> AllocationList | None:
    """Return the study's list in ``environment`` for its latest scheme, if one was made."""
    return (
        AllocationList.objects.filter(scheme__study=study, environment=environment)
        .order_by("-scheme__number")
        .first()
    )
