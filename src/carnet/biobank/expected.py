"""The samples the protocol expects (the study file's ``events[].samples``) against those
collected: per visit of a subject, and the missing ones of a whole study, counted in SQL."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from django.db.models import CharField, Exists, OuterRef, QuerySet, Value
from django.urls import reverse
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from carnet.accounts.models import User
from carnet.biobank.models import Sample
from carnet.biobank.selectors import _scoped, subject_samples
from carnet.core.clock import utc_today
from carnet.studies.definition.model import Event, ExpectedSample, StudyDefinition
from carnet.studies.models import Study
from carnet.subjects.models import PlannedVisit, Subject


class SampleState:
    COLLECTED = "collected"
    MISSING = "missing"  # the visit took place, the sample was not recorded
    AWAITED = "awaited"  # the visit has not taken place yet
    OPTIONAL = "optional"  # not taken, and the protocol does not require it


@dataclass(frozen=True)
class ExpectedRow:
    expected: ExpectedSample
    state: str
    samples: list[Sample] = field(default_factory=list)


@dataclass(frozen=True)
class VisitSamples:
    event: Event
    number: int
    done_on: date | None
    rows: list[ExpectedRow]

    @property
    def collected(self) -> int:
        return sum(1 for row in self.rows if row.state == SampleState.COLLECTED)


def definition_of(study: Study) -> StudyDefinition | None:
    return study.current_version.parsed() if study.current_version else None


def sampled_events(definition: StudyDefinition | None) -> list[Event]:
    """Return the events where the protocol expects samples."""
    return [event for event in definition.events if event.samples] if definition else []


def visit_samples(subject: Subject, *, today: date | None = None) -> list[VisitSamples]:
    """Return, for each visit of the subject where samples are expected (planned, done, or
    holding a sample), the expected samples and those collected."""
    events = {event.name: event for event in sampled_events(definition_of(subject.study))}
    if not events:
        return []
    today = today or utc_today()
    collected: dict[tuple[str, int, str], list[Sample]] = {}
    for sample in subject_samples(subject):
        key = (sample.event, sample.occurrence or 1, sample.expected_code)
        collected.setdefault(key, []).append(sample)
    visits: dict[tuple[str, int], date | None] = {}
    for name, number, done_on in PlannedVisit.objects.filter(
        subject=subject, event__in=events
    ).values_list("event", "number", "done_on"):
        if done_on is not None or number == 1:
            visits[(name, number)] = done_on
    for name, number, _code in collected:
        visits.setdefault((name, number), None)
    found = []
    for event_name, number in sorted(visits, key=lambda key: (list(events).index(key[0]), key[1])):
        event, done_on = events[event_name], visits[(event_name, number)]
        rows = []
        for expected in event.samples:
            samples = collected.get((event_name, number, expected.code), [])
            if samples:
                state = SampleState.COLLECTED
            elif expected.optional:
                state = SampleState.OPTIONAL
            elif done_on is not None and done_on < today:
                state = SampleState.MISSING
            else:
                state = SampleState.AWAITED
            rows.append(ExpectedRow(expected, state, samples))
        found.append(VisitSamples(event, number, done_on, rows))
    return found


def _missing_rows(study: Study, event: Event, expected: ExpectedSample) -> QuerySet[Any]:
    taken = Sample.objects.filter(
        subject_id=OuterRef("subject_id"),
        event=event.name,
        occurrence=OuterRef("number"),
        expected_code=expected.code,
        parent__isnull=True,
    )
    return (
        PlannedVisit.objects.filter(study=study, event=event.name, done_on__isnull=False)
        .annotate(taken=Exists(taken), code=Value(expected.code, output_field=CharField()))
        .filter(taken=False)
    )


@dataclass(frozen=True)
class MissingSample:
    subject: str
    site: str
    event: str
    number: int
    code: str
    done_on: date
    what: str


def missing_samples(
    actor: User,
    *,
    study: Study,
    site: str | None = None,
    today: date | None = None,
    limit: int | None = None,
) -> tuple[int, list[MissingSample]]:
    """Return how many expected samples are missing at the sites the actor sees (their visit
    took place before today, no sample recorded; optional ones aside) and the first ``limit``
    of them, oldest visit first."""
    visible = _scoped(actor, study, Subject.objects.filter(study=study))
    return _missing(study, visible, site=site, today=today, limit=limit)


def study_missing_samples(study: Study) -> tuple[int, list[MissingSample]]:
    """Return every missing sample of the study (the command line, run on the server)."""
    from carnet.biobank.selectors import environment_seen

    visible = Subject.objects.filter(study=study, environment=environment_seen(study))
    return _missing(study, visible, site=None, today=None, limit=None)


def _missing(
    study: Study,
    visible: QuerySet[Subject],
    *,
    site: str | None,
    today: date | None,
    limit: int | None,
) -> tuple[int, list[MissingSample]]:
    """One SQL statement for the count and one for the rows, whatever the study's size."""
    definition = definition_of(study)
    language = get_language() or "en"
    labels: dict[tuple[str, str], str] = {}
    parts = []
    if site:
        visible = visible.filter(site__code=site)
    for event in sampled_events(definition):
        for expected in event.samples:
            if expected.optional:
                continue
            name = expected.label.text(language) or expected.code
            labels[(event.name, expected.code)] = f"{name} — {event.label.text(language)}"
            parts.append(
                _missing_rows(study, event, expected)
                .filter(subject__in=visible.values("pk"), done_on__lt=today or utc_today())
                .values_list(
                    "subject__identifier",
                    "subject__site__code",
                    "event",
                    "number",
                    "code",
                    "done_on",
                )
            )
    if not parts:
        return 0, []
    union = parts[0].union(*parts[1:], all=True) if len(parts) > 1 else parts[0]
    total = union.count()
    rows = union.order_by("done_on", "subject__identifier")
    if limit is not None:
        rows = rows[:limit]
    return total, [
        MissingSample(subject, site_code, event, number, code, done_on, labels[(event, code)])
        for subject, site_code, event, number, code, done_on in rows
    ]


def missing_section(actor: User, study: Study, site: str | None, rows: int) -> Any:
    """The overdue list's section of missing samples (None for a study expecting none)."""
    from carnet.subjects.overdue_sources import OverdueRow, OverdueSection

    if not sampled_events(definition_of(study)):
        return None
    total, found = missing_samples(actor, study=study, site=site, limit=rows)
    return OverdueSection(
        key="samples",
        title=_("Missing samples"),
        total=total,
        rows=[
            OverdueRow(
                subject=row.subject,
                site=row.site,
                what=row.what,
                since=row.done_on,
                url=reverse("biobank:subject_samples", args=[study.identifier, row.subject]),
            )
            for row in found
        ],
        url=reverse("biobank:missing", args=[study.identifier]),
    )
