"""Seed a study of many synthetic subjects in bulk, for the page benchmarks.

Shared by bench/subject_lists.py and bench/pages.py. ACC-209 (examples/studies/simon-phase2.yaml:
21-day cycles, 6-weekly imaging, follow-up every 3 months) in production, three sites and a data
manager who sees every site. Subjects and visits are written with bulk INSERTs (inclusion dates
over two years, cycles done, a share off treatment, in follow-up or deceased, some late), then
`schedule_rebuild` plans their stored schedules, as `carnet schedule rebuild` does: its time is
returned. Optional extras: one subject with a long run of cycles (a casebook of 60 cycles, with
its treatment forms filled in), a form instance for every visit, lines of the screening log and
open queries. Called inside a configured Django process (after ``django.setup()`` and migrate).
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPOSITORY = Path(__file__).resolve().parent.parent
LONG_SUBJECT = "BEN1-99999"


@dataclass
class Seeded:
    study: Any
    manager: Any
    planning: float  # seconds `schedule_rebuild` took
    long_subject: str = ""  # identifier of the subject with many cycles, if any


def _study(label: str) -> tuple[Any, list[Any], Any, Any]:
    from carnet.accounts.roles import Role
    from carnet.accounts.services import (
        centre_add,
        role_grant,
        site_activate,
        site_add,
        user_create,
    )
    from carnet.audit.services import SystemActor
    from carnet.core.clock import utc_today
    from carnet.studies.definition import study_file_read
    from carnet.studies.models import Study
    from carnet.studies.services import study_load, study_mode_change, study_publish
    from carnet.subjects.services import subject_settings_set

    actor = SystemActor(label=label)
    path = REPOSITORY / "examples" / "studies" / "simon-phase2.yaml"
    study = study_load(actor=actor, study_file=study_file_read(path), source_name=path.name).study
    study_publish(actor=actor, study=study)
    study.refresh_from_db()
    study = study_mode_change(actor=actor, study=study, mode="production")
    study = Study.objects.get(pk=study.pk)
    subject_settings_set(
        actor=actor,
        study=study,
        central_eligibility_review=False,
        identity_vault=False,
        treatment_events=["cycle"],
    )
    start = utc_today() - timedelta(days=730)
    sites = []
    for number in range(1, 4):
        centre = centre_add(actor=actor, code=f"BEN{number}", name=f"Bench centre {number}")
        sites.append(
            site_activate(
                actor=actor, site=site_add(actor=actor, study=study, centre=centre), on=start
            )
        )
    manager = user_create(actor=actor, username="manager", password="a long bench password")  # noqa: S106
    role_grant(
        actor=actor, user=manager, study=study, site=None, role=Role.DATA_MANAGER, starts_on=start
    )
    return study, sites, manager, start


def study_seed(
    size: int,
    *,
    label: str,
    long_cycles: int = 0,
    forms: bool = False,
    screening: int = 0,
    queries: int = 0,
) -> Seeded:
    """Create the study, its sites, the data manager and ``size`` subjects (plus the extras
    asked), plan their schedules and return them with the planning time."""
    from carnet.core.clock import utc_today
    from carnet.subjects.models import Subject, Visit
    from carnet.subjects.scheduling import schedule_rebuild

    study, sites, manager, start = _study(label)
    today = utc_today()
    rng = random.Random(f"subject-lists-{size}")
    subjects, plans = [], []
    for n in range(size):
        site = sites[n % 3]
        included = start + timedelta(days=rng.randrange(0, 725))
        cycles = rng.randint(1, 30)
        last_cycle = included + timedelta(days=21 * (cycles - 1))
        fate = rng.random()
        if last_cycle >= today or fate < 0.5:
            status, on, treatment, treatment_on = "included", included, "on_treatment", included
            # Still treated: done up to a few cycles ago, so some are late.
            cycles = max(1, min(cycles, (today - included).days // 21 - rng.randint(0, 2)))
        elif fate < 0.8:
            status, on = "in_follow_up", last_cycle + timedelta(days=10)
            treatment, treatment_on = "off_treatment", on
        else:
            status, on = "deceased", min(today, last_cycle + timedelta(days=rng.randint(10, 200)))
            treatment, treatment_on = "off_treatment", last_cycle + timedelta(days=10)
        subjects.append(
            Subject(
                study=study,
                environment="production",
                site=site,
                identifier=f"{site.code}-{n // 3 + 1:05d}",
                sequence=n // 3 + 1,
                included_on=included,
                study_status=status,
                study_status_on=on,
                treatment_status=treatment,
                treatment_status_on=treatment_on,
                last_news_on=on,
            )
        )
        plans.append((included, cycles))
    if long_cycles:
        # Still on treatment after ``long_cycles`` cycles of 21 days, the last one a week ago.
        included = today - timedelta(days=21 * (long_cycles - 1) + 7)
        subjects.append(
            Subject(
                study=study,
                environment="production",
                site=sites[0],
                identifier=LONG_SUBJECT,
                sequence=99999,
                included_on=included,
                study_status="included",
                study_status_on=included,
                treatment_status="on_treatment",
                treatment_status_on=included,
                last_news_on=today - timedelta(days=7),
            )
        )
        plans.append((included, -long_cycles))  # negative: exactly on time, every cycle
    Subject.objects.bulk_create(subjects, batch_size=1000)
    created = Subject.objects.filter(study=study).order_by("pk")
    visits = []
    for subject, (included, cycles) in zip(created, plans, strict=True):
        visits.append(Visit(subject=subject, event="screening", occurrence=1, visit_on=included))
        for k in range(abs(cycles)):
            day = included + timedelta(days=21 * k + (rng.randint(0, 2) if cycles > 0 else 0))
            if day < today:
                visits.append(Visit(subject=subject, event="cycle", occurrence=k + 1, visit_on=day))
    Visit.objects.bulk_create(visits, batch_size=2000)
    if forms:
        _forms_seed(study)
    if long_cycles:
        _long_subject_values(study)
    if screening:
        _screening_seed(study, sites, screening, rng)
    if queries:
        _queries_seed(study, manager, queries, rng)
    began = time.perf_counter()
    schedule_rebuild(study=study)
    planning = time.perf_counter() - began
    analyse()
    return Seeded(study, manager, planning, LONG_SUBJECT if long_cycles else "")


def analyse() -> None:
    """Gather PostgreSQL's statistics of the freshly loaded tables.

    Autovacuum does it within a minute or so; until then the planner believes them empty (an
    estimate of 1 row made the overdue count a nested loop over every subject: 2.5 s at 10,000
    subjects, 80 ms once analysed). A study in use has its statistics: the benchmarks measure
    that state.
    """
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")


def _forms_seed(study: Any) -> None:
    """Write a completed form instance for every form of every visit recorded (no values)."""
    from carnet.capture.models import FormInstance
    from carnet.subjects.models import Visit

    definition = study.current_version.parsed()
    forms_of = {event.name: list(event.forms) for event in definition.events}
    rows = []
    for subject_id, event, occurrence in (
        Visit.objects.filter(subject__study=study)
        .exclude(subject__identifier=LONG_SUBJECT)
        .values_list("subject_id", "event", "occurrence")
        .iterator(chunk_size=5000)
    ):
        rows.extend(
            FormInstance(
                subject_id=subject_id,
                environment="production",
                event=event,
                occurrence=occurrence,
                form=form,
                status="complete",
                version=1,
                study_version_id=study.current_version_id,
            )
            for form in forms_of.get(event, [])
        )
        if len(rows) >= 20000:
            FormInstance.objects.bulk_create(rows, batch_size=2000)
            rows = []
    FormInstance.objects.bulk_create(rows, batch_size=2000)


def _long_subject_values(study: Any) -> None:
    """Fill in the long subject's treatment forms, one per cycle done."""
    from carnet.capture.models import FormInstance, ItemValue
    from carnet.subjects.models import Visit

    visits = Visit.objects.filter(
        subject__identifier=LONG_SUBJECT, subject__study=study, event="cycle"
    )
    instances = FormInstance.objects.bulk_create(
        [
            FormInstance(
                subject_id=visit.subject_id,
                environment="production",
                event="cycle",
                occurrence=visit.occurrence,
                form="treatment",
                status="complete",
                version=1,
                study_version_id=study.current_version_id,
            )
            for visit in visits
        ]
    )
    by_occurrence = {visit.occurrence: visit.visit_on for visit in visits}
    values = []
    for instance in FormInstance.objects.filter(pk__in=[i.pk for i in instances]):
        day = by_occurrence[instance.occurrence]
        entered: list[tuple[str, str, Any, Any]] = [
            ("cycle_start", day.isoformat(), None, day),
            ("dose_level", "1", 1, None),
            ("dose_reduced", "0", 0, None),
            ("interrupted", "0", 0, None),
            ("tablets_dispensed", "63", 63, None),
            ("tablets_returned", "2", 2, None),
        ]
        values.extend(
            ItemValue(
                form_instance=instance,
                item=item,
                item_oid=f"IT.{item.upper()}",
                group="cycle_treatment",
                text=text,
                number=number,
                day=day_value,
                changed_in=1,
                study_version_id=study.current_version_id,
                updated_by="bench",
            )
            for item, text, number, day_value in entered
        )
    ItemValue.objects.bulk_create(values, batch_size=2000)


def _screening_seed(study: Any, sites: list[Any], count: int, rng: random.Random) -> None:
    from carnet.core.clock import utc_today
    from carnet.subjects.models import ScreeningEntry

    today = utc_today()
    ScreeningEntry.objects.bulk_create(
        [
            ScreeningEntry(
                study=study,
                site=sites[n % 3],
                environment="production",
                screening_number=f"S{n + 1:06d}",
                screened_on=today - timedelta(days=rng.randrange(0, 730)),
                age=rng.randint(18, 90),
                sex=rng.choice("MF"),
                reason_not_included="Not eligible: bench line",
            )
            for n in range(count)
        ],
        batch_size=2000,
    )


def _queries_seed(study: Any, manager: Any, count: int, rng: random.Random) -> None:
    """Open manual queries on random subjects' screening forms (half answered or closed)."""
    from carnet.quality.models import Query

    subjects = list(study.subjects.values_list("pk", "site_id"))
    now = datetime.now(tz=UTC)
    rows = []
    for n in range(count):
        subject_id, site_id = subjects[rng.randrange(len(subjects))]
        opened = now - timedelta(days=rng.randrange(0, 400))
        state = rng.choice(["open", "open", "answered", "closed"])
        rows.append(
            Query(
                study=study,
                site_id=site_id,
                subject_id=subject_id,
                kind="manual",
                scope="subject",
                state=state,
                resolution="resolved" if state == "closed" else "",
                text=f"Bench query {n + 1}: please check the source document.",
                raised_by=manager,
                raised_by_label="manager",
                opened_at=opened,
                answered_at=opened + timedelta(days=3) if state != "open" else None,
                closed_at=opened + timedelta(days=5) if state == "closed" else None,
                updated_at=opened,
            )
        )
    Query.objects.bulk_create(rows, batch_size=2000)


def manager_client(manager: Any) -> Any:
    """Return a test client signed in as the data manager, second factor passed."""
    from django.test import Client
    from django_otp.oath import totp
    from django_otp.plugins.otp_totp.models import TOTPDevice

    client = Client(SERVER_NAME="localhost")
    client.force_login(manager)
    client.get("/account/two-factor/")
    device = TOTPDevice.objects.filter(confirmed=False).latest("id")
    code = totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits)
    client.post("/account/two-factor/", {"device": device.pk, "code": f"{code:06d}"})
    return client
