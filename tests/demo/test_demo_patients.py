"""The demo patients are entered through the real services, pass the hard checks, and load once.

The day is frozen: how far each patient got depends on today, and the assertions below are
about one known calendar.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine

from carnet.accounts.models import Membership, User
from carnet.accounts.roles import Role
from carnet.audit.models import AuditEvent
from carnet.audit.services import SystemActor
from carnet.audit.verification import audit_verify
from carnet.capture.models import CheckResult, FormInstance, FormStatus, ItemValue
from carnet.demo import StudyPatients, demo_load, demo_patients_load, demo_studies_load
from carnet.subjects.models import ScreeningEntry, Subject, Visit
from tests.capture.casebook_checks import casebooks_missing_forms

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

TODAY = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)


def load(actor: SystemActor, *, phase3: int, phase2: int) -> list[StudyPatients]:
    with time_machine.travel(TODAY, tick=True):
        return demo_patients_load(actor=actor, phase3=phase3, phase2=phase2)


@pytest.fixture
def demo(system_actor: SystemActor) -> SystemActor:
    # On the demo's calendar too: a study loaded after its patients (the real clock being later
    # than TODAY) is what `carnet audit verify` reports as a trail restarted after its data.
    with time_machine.travel(TODAY - timedelta(hours=1), tick=True):
        demo_load(actor=system_actor, password="a long demo password")
        demo_studies_load(actor=system_actor)
    return system_actor


@pytest.mark.parametrize(("phase3", "phase2"), [(12, 6)])
def test_a_small_demo_goes_through_the_pipeline_and_loads_once(
    demo: SystemActor, phase3: int, phase2: int
) -> None:
    seen: list[tuple[str, int, int]] = []
    with time_machine.travel(TODAY, tick=True):
        first = demo_patients_load(
            actor=demo, phase3=phase3, phase2=phase2, progress=lambda *p: seen.append(p)
        )
    # Every planned patient was included on the demo calendar, before today.
    assert [(s.identifier, s.added, s.not_yet) for s in first] == [
        ("MAINTAIN-CRC", phase3, 0),
        ("ACC-209", phase2, 0),
    ]
    assert seen[-1] == ("ACC-209", phase2, phase2)
    assert Subject.objects.count() == phase3 + phase2
    assert ScreeningEntry.objects.exists()

    # Each site's own data-entry account entered its patients.
    for subject in Subject.objects.select_related("site"):
        event = AuditEvent.objects.get(
            action="subject.included", target_type="subjects.subject", target_id=str(subject.pk)
        )
        user = User.objects.get(pk=event.actor_id)
        assert Membership.objects.filter(
            user=user, study=subject.study, site=subject.site, role=Role.DATA_ENTRY
        ).exists()

    # Every stored value came through the save pipeline, with its audit event.
    values = ItemValue.objects.select_related("form_instance")
    assert values.count() > 500
    audited = set(
        AuditEvent.objects.filter(action="item.changed").values_list("target_id", flat=True)
    )
    missing = [v for v in values if f"{v.form_instance_id}:{v.item}:{v.row}" not in audited]
    assert missing == []
    assert audit_verify().intact

    # Patients at several stages; some forms not done, missing-data codes, soft checks fired.
    statuses = {status for s in first for status in s.statuses}
    assert {"included", "in_follow_up", "deceased"} <= statuses
    assert FormInstance.objects.filter(status=FormStatus.NOT_DONE).exists()
    assert ItemValue.objects.exclude(missing_code="").exists()
    assert CheckResult.objects.filter(open=True).exists()
    # Nothing is dated today or later.
    assert not Visit.objects.filter(visit_on__gte=TODAY.date()).exists()
    latest = ItemValue.objects.filter(day__isnull=False).order_by("-day").first()
    assert latest is not None
    assert latest.day is not None
    assert latest.day < TODAY.date()
    # Every stored form instance appears in its subject's casebook, page and API, whatever the
    # schedule computes (randomisation-anchored events included).
    with time_machine.travel(TODAY, tick=True):
        assert casebooks_missing_forms(User.objects.get(username="sponsor")) == []

    events = AuditEvent.objects.count()
    second = load(demo, phase3=phase3, phase2=phase2)
    assert [(s.added, s.already_there, s.screening_log_added) for s in second] == [
        (0, phase3, 0),
        (0, phase2, 0),
    ]
    assert AuditEvent.objects.count() == events


def test_patients_planned_after_yesterday_are_not_there_yet(demo: SystemActor) -> None:
    with time_machine.travel(datetime(2025, 9, 1, 9, 0, tzinfo=UTC), tick=True):
        early = demo_patients_load(actor=demo, phase3=40, phase2=3)
    phase3 = early[0]
    assert 0 < phase3.added < 40
    assert phase3.added + phase3.not_yet == 40
    assert not Visit.objects.filter(visit_on__gte=date(2025, 9, 1)).exists()
    assert Subject.objects.filter(included_on__lt=date(2025, 9, 1) - timedelta(days=1)).count() == (
        Subject.objects.count()
    )


def test_no_demo_patient_has_news_after_death(demo: SystemActor) -> None:
    """The whole demo, as `carnet demo` loads it: a deceased patient was last known alive on
    the day of death, nothing of theirs is dated later, and overall survival takes them all."""
    import polars as pl

    from carnet.analysis.endpoints import overall_survival
    from carnet.subjects.models import News

    load(demo, phase3=240, phase2=29)
    deceased = Subject.objects.filter(study_status="deceased")
    assert deceased.count() >= 20
    wrong = []
    for subject in deceased:
        died_on = subject.study_status_on
        later = [
            *(
                f"{v.form_instance.event}/{v.form_instance.form}.{v.item}={v.day}"
                for v in ItemValue.objects.filter(
                    form_instance__subject=subject, removed=False, day__gt=died_on
                ).select_related("form_instance")
            ),
            *(f"visit {v.event}={v.visit_on}" for v in subject.visits.filter(visit_on__gt=died_on)),
            *(
                f"news={n.news_on}"
                for n in News.objects.filter(subject=subject, news_on__gt=died_on)
            ),
        ]
        if subject.last_news_on != died_on or later:
            wrong.append((subject.identifier, died_on, subject.last_news_on, later))
    assert wrong == []
    assert not CheckResult.objects.filter(check_name="carnet:after_death").exists()
    assert not Subject.objects.filter(last_news_on__gte=TODAY.date()).exists()
    for study in ("MAINTAIN-CRC", "ACC-209"):
        rows = Subject.objects.filter(study__identifier=study).values_list(
            "identifier", "included_on", "last_news_on", "study_status", "study_status_on"
        )
        frame = pl.DataFrame(
            {
                "subject": [r[0] for r in rows],
                "randomisation": [r[1] for r in rows],
                "last_news": [r[2] for r in rows],
                "death": [r[4] if r[3] == "deceased" else None for r in rows],
            },
            schema={
                "subject": pl.String,
                "randomisation": pl.Date,
                "last_news": pl.Date,
                "death": pl.Date,
            },
        )
        assert overall_survival(frame).frame.height == len(rows)


def test_the_demo_randomises_through_the_service_and_verify_passes(demo: SystemActor) -> None:
    from carnet.randomization.models import Allocation
    from carnet.randomization.verification import study_randomisation_verify
    from carnet.studies.models import Study

    load(demo, phase3=30, phase2=0)
    study = Study.objects.get(identifier="MAINTAIN-CRC")
    subjects = Subject.objects.filter(study=study, randomised_on__isnull=False)
    allocations = Allocation.objects.filter(study=study)
    assert allocations.count() == subjects.count() >= 20
    assert set(allocations.values_list("method", flat=True)) == {"minimisation"}
    assert set(allocations.values_list("arm", flat=True)) == {"experimental", "placebo"}
    for subject in subjects:
        # Randomised on the day of inclusion; every cycle on or after it.
        assert subject.randomised_on == subject.included_on
        cycles = Visit.objects.filter(subject=subject, event="cycle").values_list("visit_on")
        assert all(day >= subject.randomised_on for (day,) in cycles)
    result = study_randomisation_verify(study)
    assert result.passed, result.differences
    # Kit mode (issue 25): the pharmacy gives each allocation a kit of its site holding its arm,
    # for cycle 1; the site records at each administration the kit dispensed for that cycle, one
    # of the subject's arm; the randomisation form holds the allocation number.
    from carnet.capture.models import ItemValue
    from carnet.pharmacy.models import Kit

    for allocation in allocations.select_related("subject__site"):
        kit = Kit.objects.get(study=study, number=allocation.kit_number)
        assert (kit.subject, kit.content, kit.site, kit.event, kit.occurrence) == (
            allocation.subject,
            allocation.arm,
            allocation.subject.site,
            "cycle",
            1,
        )
        values = ItemValue.objects.filter(form_instance__subject=allocation.subject, removed=False)
        assert values.get(item="rando_number").text == f"R{allocation.number:04d}"
        for value in values.filter(item="kit_number").select_related("form_instance"):
            given = Kit.objects.get(study=study, number=value.text)
            assert (given.subject, given.content, given.site, given.occurrence) == (
                allocation.subject,
                allocation.arm,
                allocation.subject.site,
                value.form_instance.occurrence,
            )
