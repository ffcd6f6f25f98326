"""The database lock's checklist: a list of item providers, each counting one kind of open
problem of a study's production data with one database query.

Another capability takes part with one line, from this app's ``AppConfig.ready`` (or its own):

    register_checklist_item(ChecklistItem("uncoded_terms", gettext_lazy("Uncoded"), uncoded))

A provider returns None when it does not apply (the capability is not installed): the item is
then left out of the checklist rather than shown clear.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.db.models import Exists, OuterRef
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy

from carnet.capture.models import FormInstance
from carnet.coding.selectors import uncoded_count
from carnet.monitoring.selectors import sdv_outstanding as monitoring_sdv_outstanding
from carnet.oversight.models import DataSignature, Scope
from carnet.quality.deviation_models import Deviation, DeviationStatus
from carnet.quality.models import Query, QueryState
from carnet.safety.selectors import unreconciled_count
from carnet.studies.models import Study
from carnet.subjects.environments import Environment
from carnet.subjects.models import Subject

Counter = Callable[[Study], int | None]


@dataclass(frozen=True)
class ChecklistItem:
    """One item of the checklist: its key (kept in waivers), its label, how it is counted."""

    key: str
    label: str | Promise
    count: Counter


CHECKLIST: list[ChecklistItem] = []


def register_checklist_item(item: ChecklistItem) -> ChecklistItem:
    """Add an item to every study's checklist (once; called from an AppConfig.ready)."""
    if all(known.key != item.key for known in CHECKLIST):
        CHECKLIST.append(item)
    return item


# --- the items this app knows ------------------------------------------------------------------


def queries_unanswered(study: Study) -> int:
    """Return the open queries the sites have not answered yet."""
    return Query.objects.filter(
        study=study, state=QueryState.OPEN, subject__environment=Environment.PRODUCTION
    ).count()


def queries_answered_not_closed(study: Study) -> int:
    """Return the queries answered by the sites that nobody closed yet."""
    return Query.objects.filter(
        study=study, state=QueryState.ANSWERED, subject__environment=Environment.PRODUCTION
    ).count()


def casebooks_unsigned(study: Study) -> int:
    """Return the casebooks with saved data and no valid signature of the whole casebook, as
    oversight's list of casebooks awaiting signature counts them (for the whole study)."""
    signed = DataSignature.objects.filter(
        subject=OuterRef("pk"), scope=Scope.SUBJECT, voided_at__isnull=True
    )
    saved = FormInstance.objects.filter(subject=OuterRef("pk"), version__gt=0)
    return (
        Subject.objects.filter(study=study, environment=Environment.PRODUCTION)
        .filter(Exists(saved))
        .exclude(Exists(signed))
        .count()
    )


def deviations_not_reviewed(study: Study) -> int:
    """Return the protocol deviations of the register still awaiting the data manager's review."""
    return Deviation.objects.filter(
        study=study,
        status=DeviationStatus.PENDING,
        subject__environment=Environment.PRODUCTION,
    ).count()


def sdv_outstanding(study: Study) -> int:
    """Return the items the monitoring plan wants verified and nobody verified yet."""
    return monitoring_sdv_outstanding(study=study)


def serious_events_unreconciled(study: Study) -> int:
    """Return the differences between the SAE reports and the casebook's serious adverse
    events that nobody turned into a query or resolved with a reason."""
    return unreconciled_count(study=study)


def uncoded_terms(study: Study) -> int | None:
    """Return the verbatim terms not coded yet (None where the study codes nothing)."""
    from carnet.coding.models import CodingTarget

    if not CodingTarget.objects.filter(study=study).exists():
        return None
    return uncoded_count(study)


def register_items() -> None:
    """Register the items this app counts itself (called from its AppConfig.ready)."""
    register_checklist_item(
        ChecklistItem(
            "queries_unanswered",
            gettext_lazy("Queries awaiting the site's answer"),
            queries_unanswered,
        )
    )
    register_checklist_item(
        ChecklistItem(
            "queries_answered",
            gettext_lazy("Answered queries not closed yet"),
            queries_answered_not_closed,
        )
    )
    register_checklist_item(
        ChecklistItem(
            "sdv_outstanding",
            gettext_lazy("Source data verification outstanding (monitoring plan)"),
            sdv_outstanding,
        )
    )
    register_checklist_item(
        ChecklistItem(
            "casebooks_unsigned",
            gettext_lazy("Casebooks not signed by the investigator"),
            casebooks_unsigned,
        )
    )
    register_checklist_item(
        ChecklistItem(
            "deviations_pending",
            gettext_lazy("Protocol deviations awaiting review"),
            deviations_not_reviewed,
        )
    )
    register_checklist_item(
        ChecklistItem(
            "serious_events_unreconciled",
            gettext_lazy("Serious adverse events not reconciled with the safety database"),
            serious_events_unreconciled,
        )
    )
    register_checklist_item(
        ChecklistItem(
            "uncoded_terms",
            gettext_lazy("Verbatim terms not coded (MedDRA, WHODrug)"),
            uncoded_terms,
        )
    )
