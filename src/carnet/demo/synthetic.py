"""What the demo's synthetic patients share: the seeded generators, the writer that enters a
patient's data through the real services, adverse events, medications and tumour measurements.

Each patient is planned from a seeded generator on a fixed calendar (the demo sites open in 2025)
and lived day by day up to yesterday: screening, inclusion, cycles, imaging, adverse events,
end of treatment, follow-up, death or withdrawal. Everything is written by the data-entry
account of the patient's site with `subject_include`, `visit_record`… and its forms through the
bulk path (`forms_import`, the save pipeline's steps in batches), so the audit trail, the edit
checks and the schedule are those a real site would produce.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from carnet.accounts.models import User
from carnet.capture.bulk import FormRecord, forms_import
from carnet.capture.services import form_mark_not_done
from carnet.subjects.models import Subject
from carnet.subjects.services import VisitToRecord, visits_record

SEED = "carnet-demo-2025"
# Entry lag: a visit of the last days is often not entered yet.
ENTRY_LAG_DAYS = 10
# What the audit trail says of the demo's form data: the bulk path wants a reason.
DEMO_REASON = "Synthetic demo patient entered from the source documents"


@dataclass
class StudyPatients:
    """What the demo holds for one study after a run."""

    identifier: str
    planned: int
    added: int = 0
    already_there: int = 0
    not_yet: int = 0  # planned after yesterday on the demo calendar
    screening_log_added: int = 0
    forms_saved: int = 0
    forms_not_done: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    # The forms of the patient being entered, not written yet (see `Writer`).
    pending: list[FormRecord] = field(default_factory=list, repr=False, compare=False)
    # Its visits not recorded yet: recorded together, before its forms (see `Writer`).
    pending_visits: list[tuple[User, Subject, VisitToRecord]] = field(
        default_factory=list, repr=False, compare=False
    )


class Writer:
    """Writes one patient's data as the data-entry account of their site.

    Forms go through the bulk path (`forms_import`): the writer keeps them and writes them at
    once when the story needs them in the database (`flush`), that is before any other service
    reads or changes the subject (randomisation, a change of status, a withdrawal, news) and at
    the end of the patient. Visits are kept too and recorded before the forms, together
    (`visits_record`: the schedule planned and the last news recounted once, not per visit).
    Forms marked not done are written at once (they touch no pending form; the visits kept go
    first). A form saved again (completed, corrected) starts a new wave of the import:
    its versions and audit events are those of saves one after another.
    """

    def __init__(self, actor: User, subject: Subject, summary: StudyPatients, last_day: date):
        self.actor, self.subject, self.summary, self.last_day = actor, subject, summary, last_day

    def visit(self, event: str, on: date, occurrence: int | None = None) -> None:
        self.summary.pending_visits.append((self.actor, self.subject, (event, on, occurrence)))

    def save(
        self,
        event: str,
        form: str,
        values: dict[str, Any] | None = None,
        *,
        occurrence: int = 1,
        repeat: int = 1,
        rows: dict[str, dict[int, dict[str, Any] | None]] | None = None,
        complete: bool = True,
    ) -> int:
        """Keep a form to write; return the number of forms kept (a handle, not a version:
        the bulk path needs none)."""
        self._keep(
            event,
            form,
            {k: v for k, v in (values or {}).items() if v is not None},
            occurrence=occurrence,
            repeat=repeat,
            rows=rows or {},
            complete=complete,
        )
        self.summary.forms_saved += 1
        return len(self.summary.pending)

    def save_version(
        self, event: str, form: str, version: int, values: dict[str, Any], *, occurrence: int = 1
    ) -> None:
        """Add values to a form saved incomplete and complete it."""
        del version  # the bulk path needs no base version: the import holds its instances
        self._keep(event, form, values, occurrence=occurrence, complete=True)
        self.summary.forms_saved += 1

    def correct(
        self, event: str, form: str, version: int, values: dict[str, Any], *, occurrence: int
    ) -> None:
        """Change values of a completed form, as after a monitoring visit (needs a reason)."""
        del version
        self._keep(
            event,
            form,
            values,
            occurrence=occurrence,
            reason="Transcription error corrected from the source document",
        )

    def _keep(
        self,
        event: str,
        form: str,
        values: dict[str, Any],
        *,
        occurrence: int = 1,
        repeat: int = 1,
        rows: dict[str, dict[int, dict[str, Any] | None]] | None = None,
        complete: bool = False,
        reason: str = "",
    ) -> None:
        self.summary.pending.append(
            FormRecord(
                subject=self.subject,
                event=event,
                form=form,
                occurrence=occurrence,
                repeat=repeat,
                values=values,
                rows=rows or {},
                complete=complete,
                reason=reason,
                source=f"{self.subject.screening_number} {event}[{occurrence}].{form}",
                actor=self.actor,
            )
        )

    def flush(self) -> None:
        """Write the forms kept, in one import (all or nothing, inside the patient's
        transaction)."""
        visits_flush(self.summary)
        records, self.summary.pending = self.summary.pending, []
        if records:
            forms_import(
                actor=self.actor,
                study=self.subject.study,
                records=records,
                reason=DEMO_REASON,
            )

    def not_done(self, event: str, form: str, reason: str, *, occurrence: int = 1) -> None:
        visits_flush(self.summary)
        form_mark_not_done(
            actor=self.actor,
            subject=self.subject,
            event=event,
            occurrence=occurrence,
            form=form,
            base_version=None,
            reason=reason,
        )
        self.summary.forms_not_done += 1

    def refresh(self) -> None:
        self.flush()
        self.subject = Subject.objects.get(pk=self.subject.pk)


def pending_flush(summary: StudyPatients, *, actor: User, study: Any) -> None:
    """Write the visits and forms a patient's story left kept at its end (see `Writer.flush`)."""
    visits_flush(summary)
    records, summary.pending = summary.pending, []
    if records:
        forms_import(actor=actor, study=study, records=records, reason=DEMO_REASON)


def visits_flush(summary: StudyPatients) -> None:
    """Record the visits kept, a subject's at once, in the order they were kept."""
    kept, summary.pending_visits = summary.pending_visits, []
    batch: list[VisitToRecord] = []
    for at, (actor, subject, visit) in enumerate(kept):
        batch.append(visit)
        following = kept[at + 1] if at + 1 < len(kept) else None
        if following is None or following[0] != actor or following[1].pk != subject.pk:
            visits_record(actor=actor, subject=subject, visits=batch)
            batch = []


def spread(rng: random.Random, start: date, end: date, count: int) -> list[date]:
    """Return ``count`` sorted dates between start and end, inclusions speeding up over time."""
    span = (end - start).days
    # sqrt: a site recruits slowly at first, then at its cruising rate.
    return sorted(start + timedelta(days=int(span * math.sqrt(rng.random()))) for _ in range(count))


def site_plan(rng: random.Random, shares: tuple[tuple[str, float], ...], count: int) -> list[str]:
    codes = [code for code, _share in shares]
    weights = [share for _code, share in shares]
    return rng.choices(codes, weights=weights, k=count)


def exp_days(rng: random.Random, median_days: float) -> int:
    return max(10, int(rng.expovariate(math.log(2) / median_days)))


def as_json(values: dict[str, Any]) -> dict[str, Any]:
    """Return eligibility values as the API sends them (the subject keeps them as JSON)."""
    return {k: v.isoformat() if isinstance(v, date) else v for k, v in values.items()}


def gauss(rng: random.Random, mean: float, sd: float, low: float, high: float) -> float:
    return min(high, max(low, rng.gauss(mean, sd)))


@dataclass
class Lesion:
    site: int
    node: bool
    diameter: int


@dataclass
class AdverseEvent:
    term: str
    grade: int
    start: date
    end: date
    serious: bool
    relation: int
    action: int


def ae_values(ae: AdverseEvent, last_day: date, *, sae_criteria: bool) -> dict[str, Any]:
    """Return an adverse event's form, ongoing if it outlasts ``last_day`` (yesterday, or the
    day of death: nothing of a patient is dated after it)."""
    ongoing = ae.end > last_day
    values: dict[str, Any] = {
        "ae_term": ae.term,
        "ae_grade": ae.grade,
        "ae_start": ae.start,
        "ae_ongoing": 1 if ongoing else 0,
        "ae_end": None if ongoing else ae.end,
        "ae_serious": 1 if ae.serious else 0,
        "ae_relation": ae.relation,
        "ae_action": ae.action,
        "ae_outcome": (2 if ae.grade <= 2 else 3) if ongoing else (4 if ae.grade >= 4 else 1),
    }
    if sae_criteria and ae.serious:
        values["sae_criteria"] = [3]  # hospitalisation
    return values


def save_medications(
    writer: Writer,
    event: str,
    medications: list[tuple[tuple[str, str, str, int], date, date | None]],
    last_day: date,
) -> None:
    for repeat, ((name, indication, dose, route), start, end) in enumerate(medications, 1):
        ongoing = end is None or end > last_day
        writer.save(
            event,
            "concomitant_medication",
            {
                "cm_name": name,
                "cm_indication": indication,
                "cm_dose": dose,
                "cm_route": route,
                "cm_start": start,
                "cm_ongoing": 1 if ongoing else 0,
                "cm_end": None if ongoing else end,
            },
            repeat=repeat,
        )


def recist(
    rng: random.Random, baseline: list[Lesion], fraction: float, progressing: bool
) -> list[int]:
    """Return the target diameters at a fraction of the baseline sum (lesions vary around it)."""
    diameters = []
    for lesion in baseline:
        own = fraction * gauss(rng, 1.0, 0.08, 0.7, 1.3)
        diameters.append(max(0, min(300, round(lesion.diameter * own))))
    if progressing and sum(diameters) < 1.2 * sum(x.diameter for x in baseline):
        diameters[0] += 8
    return diameters


@dataclass
class PlannedPatient:
    """A patient of a demo study's plan: their number, site, inclusion day and own generator."""

    number: int
    site: str
    included_on: date
    rng: random.Random
