"""Reads on protocol deviations, scoped to the sites where the actor may view subjects and
shown through the blinding policy."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from carnet.accounts.blinding import HIDDEN, Blinding, blinding_of
from carnet.accounts.models import User
from carnet.accounts.permissions import PermissionDenied, site_scope
from carnet.accounts.roles import Action
from carnet.quality.deviation_models import (
    Deviation,
    DeviationClass,
    DeviationOrigin,
    DeviationStatus,
)
from carnet.quality.deviations import deviation_categories
from carnet.studies.definition.model import StudyDefinition
from carnet.studies.models import Study
from carnet.subjects.models import Subject
from carnet.subjects.selectors import PER_PAGE, PER_PAGE_MAX, ListPage, environment_seen
from carnet.subjects.statuses import StudyStatus

# Subjects who never entered the study are in no analysis population.
NOT_INCLUDED = (StudyStatus.SCREENED, StudyStatus.SCREEN_FAILURE)


def deviations_visible(actor: User, *, study: Study) -> QuerySet[Deviation]:
    """Return the study's deviations of the subjects the actor may see (the environment they
    look at, at the sites where they may view subjects); refuse one who may see none."""
    scope = site_scope(actor, Action.VIEW_SUBJECTS, study=study)
    if scope.empty:
        raise PermissionDenied(
            _("You may not view subjects of %(study)s.") % {"study": study.identifier}
        )
    deviations = Deviation.objects.filter(
        study=study, subject__environment=environment_seen(actor, study=study)
    )
    if not scope.all_sites:
        deviations = deviations.filter(subject__site_id__in=scope.site_ids)
    return deviations.select_related(
        "subject", "subject__site", "form_instance", "check_result"
    ).order_by("-occurred_on", "-pk")


@dataclass(frozen=True)
class DeviationRow:
    """A deviation as one person may read it: its description in their language, masked when
    the check that derived it reads an arm-revealing item and the person is blinded."""

    deviation: Deviation
    description: str
    category_label: str

    @property
    def pk(self) -> int:
        return self.deviation.pk


def _arm_revealing_items(
    definition: StudyDefinition | None, blinding: Blinding
) -> set[tuple[str, str]]:
    """Return the (form, item) this person may not read: none when unblinded."""
    if definition is None or blinding.unblinded:
        return set()
    return {
        (form.name, item.name)
        for form in definition.forms
        for group in form.groups
        for item in group.items
        if blinding.conceals(item)
    }


class DeviationReader:
    """Turns deviations into rows for one person and study (definition read once)."""

    def __init__(self, actor: User, study: Study) -> None:
        version = study.current_version
        definition = version.parsed() if version is not None else None
        self.hidden = _arm_revealing_items(definition, blinding_of(actor, study=study))
        self.categories = deviation_categories(study)
        self.language = get_language() or "en"

    def row(self, deviation: Deviation) -> DeviationRow:
        text = deviation.description
        if deviation.origin == DeviationOrigin.DERIVED:
            if self.language.startswith("fr") and deviation.description_fr:
                text = deviation.description_fr
            # A check's message is about the items it reads (its result records them): when one
            # reveals the arm, a blinded person reads no more than that there is a deviation.
            instance, result = deviation.form_instance, deviation.check_result
            if (
                instance is not None
                and result is not None
                and any((instance.form, item) in self.hidden for item in result.items)
            ):
                text = HIDDEN
        label = self.categories.get(deviation.category)
        category = label.text(self.language[:2]) if label is not None else deviation.category
        return DeviationRow(deviation, text, category)


DEVIATION_COLUMNS = (
    "number",
    "subject",
    "site",
    "origin",
    "event",
    "form",
    "check_name",
    "description",
    "occurred_on",
    "deviation_class",
    "category",
    "status",
    "resolved",
    "declared_by",
    "reviewed_by",
    "reviewed_at",
    "review_reason",
)


def deviation_record(row: DeviationRow) -> dict[str, Any]:
    """Return a deviation as the API, the CSV export and the command give it (the columns
    of `DEVIATION_COLUMNS`)."""
    d = row.deviation
    instance = d.form_instance
    return {
        "number": d.pk,
        "subject": d.subject.identifier,
        "site": d.subject.site.code,
        "origin": d.origin,
        "event": instance.event if instance else "",
        "form": instance.form if instance else "",
        "check_name": d.check_name,
        "description": row.description,
        "occurred_on": d.occurred_on,
        "deviation_class": d.deviation_class,
        "category": d.category,
        "status": d.status,
        "resolved": d.resolved,
        "declared_by": d.declared_by,
        "reviewed_by": d.reviewed_by,
        "reviewed_at": d.reviewed_at,
        "review_reason": d.review_reason,
    }


def deviation_list(
    actor: User,
    *,
    study: Study,
    site: str = "",
    subject: str = "",
    deviation_class: str = "",
    category: str = "",
    status: str = "",
    page: int = 1,
    per_page: int | None = PER_PAGE,
) -> ListPage[DeviationRow]:
    """Return one page of the study's deviations the actor may see, filtered as asked.

    ``status`` is a review status (pending, confirmed, rejected), or "resolved" / "unresolved"
    for derived deviations whose check cleared or still fires."""
    deviations = _filtered(
        deviations_visible(actor, study=study),
        site=site,
        subject=subject,
        deviation_class=deviation_class,
        category=category,
        status=status,
    )
    total = deviations.count()
    if per_page:
        per_page = min(max(per_page, 1), PER_PAGE_MAX)
        last = max(1, -(-total // per_page))
        number = min(max(page, 1), last)
        chosen = list(deviations[(number - 1) * per_page : number * per_page])
    else:
        number, chosen = 1, list(deviations)
    reader = DeviationReader(actor, study)
    return ListPage([reader.row(d) for d in chosen], total, number, per_page)


def deviation_rows(actor: User, *, study: Study, **filters: str) -> Iterator[DeviationRow]:
    """Yield every deviation the actor may see, filtered as asked (an export: read in chunks)."""
    deviations = _filtered(deviations_visible(actor, study=study), **filters)
    reader = DeviationReader(actor, study)
    for deviation in deviations.iterator(chunk_size=500):
        yield reader.row(deviation)


def _filtered(
    deviations: QuerySet[Deviation],
    *,
    site: str = "",
    subject: str = "",
    deviation_class: str = "",
    category: str = "",
    status: str = "",
) -> QuerySet[Deviation]:
    if site:
        deviations = deviations.filter(subject__site__code=site)
    if subject:
        deviations = deviations.filter(subject__identifier=subject)
    if deviation_class:
        deviations = deviations.filter(deviation_class=deviation_class)
    if category:
        deviations = deviations.filter(category=category)
    if status == "resolved":
        deviations = deviations.filter(resolved=True)
    elif status == "unresolved":
        deviations = deviations.filter(resolved=False)
    elif status:
        deviations = deviations.filter(status=status)
    return deviations


def deviation_for_actor(actor: User, *, study: Study, pk: int) -> Deviation:
    """Return one deviation; an unknown one and one at another site look the same."""
    deviation = deviations_visible(actor, study=study).filter(pk=pk).first()
    if deviation is None:
        raise PermissionDenied(_("There is no deviation %(number)s you may see.") % {"number": pk})
    deviation.study = study
    return deviation


def deviation_row(actor: User, *, study: Study, deviation: Deviation) -> DeviationRow:
    """Return one deviation as the actor may read it."""
    return DeviationReader(actor, study).row(deviation)


@dataclass(frozen=True)
class PerProtocolPopulation:
    """The per-protocol population of a study, as far as the actor may see its subjects.

    ``subjects`` are the identifiers of the randomised subjects (included ones in a study
    without randomisation) without a confirmed major deviation; ``excluded`` those taken out
    by one. ``basis`` says which subjects the population starts from."""

    basis: str  # "randomised" or "included"
    subjects: list[str]
    excluded: list[str]
    pending_major: int  # major deviations awaiting review: the population may still shrink

    @property
    def size(self) -> int:
        return len(self.subjects)


def _randomised_study(study: Study) -> bool:
    version = study.current_version
    if version is None:
        return False
    return version.parsed().design.get("allocation") == "randomised"


def _population_base(study: Study, actor: User) -> tuple[QuerySet[Subject], bool, int]:
    """Return the subjects the population starts from (within the actor's sites), whether the
    study randomises, and the number of major deviations awaiting review."""
    deviations = deviations_visible(actor, study=study)  # refuses one who may see nothing
    scope = site_scope(actor, Action.VIEW_SUBJECTS, study=study)
    subjects = Subject.objects.filter(
        study=study, environment=environment_seen(actor, study=study)
    ).exclude(study_status__in=NOT_INCLUDED)
    if not scope.all_sites:
        subjects = subjects.filter(site_id__in=scope.site_ids)
    randomised = _randomised_study(study)
    if randomised:
        subjects = subjects.filter(randomised_on__isnull=False)
    pending = deviations.filter(
        deviation_class=DeviationClass.MAJOR, status=DeviationStatus.PENDING
    ).count()
    return subjects, randomised, pending


def _confirmed_major() -> Exists:
    return Exists(
        Deviation.objects.filter(
            subject=OuterRef("pk"),
            deviation_class=DeviationClass.MAJOR,
            status=DeviationStatus.CONFIRMED,
        )
    )


def per_protocol_population(*, study: Study, actor: User) -> PerProtocolPopulation:
    """Return the study's per-protocol population: subjects randomised (or included, in a study
    without randomisation) minus those with a confirmed major deviation, resolved or not.

    Pending and rejected deviations do not count; minor ones never do. Computed in the
    database (one query for the subjects, one for the deviations awaiting review)."""
    subjects, randomised, pending = _population_base(study, actor)
    rows: list[dict[str, Any]] = list(
        subjects.annotate(deviated=_confirmed_major())
        .order_by("identifier")
        .values("identifier", "deviated")
    )
    return PerProtocolPopulation(
        basis="randomised" if randomised else "included",
        subjects=[r["identifier"] for r in rows if not r["deviated"]],
        excluded=[r["identifier"] for r in rows if r["deviated"]],
        pending_major=pending,
    )


@dataclass(frozen=True)
class PerProtocolCount:
    """The per-protocol population's size, as the register shows it."""

    basis: str
    size: int
    excluded: int
    pending_major: int


def per_protocol_count(*, study: Study, actor: User) -> PerProtocolCount:
    """Return how many subjects the per-protocol population holds and leaves out (counted in
    the database: nothing read per subject)."""
    subjects, randomised, pending = _population_base(study, actor)
    counts = subjects.aggregate(
        everyone=Count("pk"), excluded=Count("pk", filter=Q(_confirmed_major()))
    )
    return PerProtocolCount(
        basis="randomised" if randomised else "included",
        size=counts["everyone"] - counts["excluded"],
        excluded=counts["excluded"],
        pending_major=pending,
    )
