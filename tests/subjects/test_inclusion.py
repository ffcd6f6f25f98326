"""Inclusion: only at an activated site, by a role that may include, once eligibility holds."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime

import pytest
import time_machine
from django.db import connection

from carnet.accounts.permissions import PermissionDenied
from carnet.accounts.services import centre_add, site_add
from carnet.audit.models import AuditEvent
from carnet.core.errors import ValidationError
from carnet.subjects.models import Consent, Subject
from carnet.subjects.services import IneligibleError, screening_entry_add
from carnet.subjects.statuses import StudyStatus, TreatmentStatus
from tests.accounts.personas import ADMIN
from tests.subjects.conftest import Cast, Snapshot, include


def test_an_investigator_includes_patients_numbered_per_site(cast: Cast) -> None:
    first = include(cast)
    second = include(cast)
    at_b = include(cast, actor=cast.bea, site=cast.site_b)
    assert [first.identifier, second.identifier, at_b.identifier] == ["01-001", "01-002", "02-001"]
    assert first.study_status == StudyStatus.INCLUDED
    assert first.treatment_status == TreatmentStatus.NOT_STARTED
    assert first.last_news_on == date(2025, 6, 2)
    consent = Consent.objects.get(subject=first)
    assert (consent.form_version, consent.consented_on) == ("v1.0", date(2025, 6, 2))
    event = AuditEvent.objects.filter(action="subject.included", target_id=str(first.pk)).get()
    assert event.chain == "study:MINI"
    assert event.new["identifier"] == "01-001"
    assert [c["met"] for c in event.new["eligibility"]["criteria"]] == [True, True]


def test_inclusion_at_a_site_not_yet_activated_is_refused_and_writes_nothing(cast: Cast) -> None:
    centre = centre_add(actor=ADMIN, code="CLB", name="Centre Léon Bérard", city="Lyon")
    site_c = site_add(actor=ADMIN, study=cast.study, centre=centre)
    snapshot = Snapshot()
    with pytest.raises(ValidationError, match=r"site: site 03 is not activated"):
        include(cast, actor=ADMIN, site=site_c)  # type: ignore[arg-type]
    assert snapshot.unchanged()


def test_inclusion_before_the_site_activation_date_is_refused(cast: Cast) -> None:
    with pytest.raises(ValidationError, match=r"included_on: site 01 was activated on 2025-01-01"):
        include(cast, on=date(2024, 12, 31))
    assert not Subject.objects.exists()


def test_each_failed_criterion_is_listed_with_its_label_and_nothing_is_written(
    cast: Cast,
) -> None:
    snapshot = Snapshot()
    with pytest.raises(IneligibleError) as refused:
        include(cast, eligibility={"weight": 38, "packs": 75})
    assert [(c.name, c.label_en, c.label_fr) for c in refused.value.failed] == [
        ("adult_weight", "Weight over 40 kg", "Poids supérieur à 40 kg"),
        ("heavy_smoker", "Over 60 pack-years", "Plus de 60 paquets-années"),
    ]
    message = str(refused.value)
    assert "adult_weight (Weight over 40 kg)" in message
    assert "the exclusion criterion applies" in message
    assert snapshot.unchanged()


def test_a_missing_value_fails_the_criterion_that_needs_it(cast: Cast) -> None:
    with pytest.raises(IneligibleError) as refused:
        include(cast, eligibility={"packs": 0})
    assert [(c.name, c.detail) for c in refused.value.failed] == [
        ("adult_weight", "missing value: baseline.weight")
    ]


def test_an_unknown_eligibility_item_is_refused_by_name(cast: Cast) -> None:
    with pytest.raises(ValidationError, match=r"eligibility.wieght: the study has no item"):
        include(cast, eligibility={"wieght": 70})


def test_a_duplicate_screening_number_is_refused_at_the_same_site(cast: Cast) -> None:
    screening_entry_add(
        actor=cast.alice,
        study=cast.study,
        site=cast.site_a,
        screened_on=date(2025, 6, 1),
        age=64,
        sex="F",
        reason_not_included="declined",
        screening_number="S-7",
    )
    snapshot = Snapshot()
    with pytest.raises(
        ValidationError, match=r"screening_number: 'S-7' is already used at site 01"
    ):
        include(cast, screening_number="S-7")
    assert snapshot.unchanged()
    # Another site numbers its own patients.
    assert include(cast, actor=cast.bea, site=cast.site_b, screening_number="S-7").identifier


def test_a_date_in_the_future_at_the_site_is_refused(cast: Cast) -> None:
    snapshot = Snapshot()
    with pytest.raises(ValidationError, match=r"included_on: 2025-06-17 is in the future"):
        include(cast, on=date(2025, 6, 17))
    assert snapshot.unchanged()


def test_today_is_the_date_in_the_centres_time_zone(cast: Cast) -> None:
    # 23:30 UTC on 16 June is already 17 June in Montpellier.
    with time_machine.travel(datetime(2025, 6, 16, 23, 30, tzinfo=UTC), tick=False):
        assert include(cast, on=date(2025, 6, 17)).included_on == date(2025, 6, 17)


def test_consent_after_inclusion_is_refused(cast: Cast) -> None:
    with pytest.raises(ValidationError, match=r"consent.consented_on: consent \(2025-06-03\)"):
        include(cast, on=date(2025, 6, 2), consented_on=date(2025, 6, 3))
    assert not Subject.objects.exists()


def test_a_monitor_and_staff_of_another_site_cannot_include(cast: Cast) -> None:
    snapshot = Snapshot()
    with pytest.raises(PermissionDenied):
        include(cast, actor=cast.moe)
    with pytest.raises(PermissionDenied):
        include(cast, actor=cast.bea, site=cast.site_a)
    assert snapshot.unchanged()


def test_the_screening_log_refuses_incomplete_or_future_lines(cast: Cast) -> None:
    arguments = {
        "actor": cast.alice,
        "study": cast.study,
        "site": cast.site_a,
        "screened_on": date(2025, 6, 1),
        "age": 64,
        "sex": "F",
        "reason_not_included": "ECOG 3",
    }
    snapshot = Snapshot()
    with pytest.raises(ValidationError, match="reason_not_included"):
        screening_entry_add(**{**arguments, "reason_not_included": " "})  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="screened_on: 2025-07-01 is in the future"):
        screening_entry_add(**{**arguments, "screened_on": date(2025, 7, 1)})  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="sex"):
        screening_entry_add(**{**arguments, "sex": "X"})  # type: ignore[arg-type]
    assert snapshot.unchanged()
    entry = screening_entry_add(**arguments)  # type: ignore[arg-type]
    assert entry.reason_not_included == "ECOG 3"


INCLUDERS = 6
EACH = 4


@pytest.mark.django_db(transaction=True)
def test_concurrent_inclusions_never_share_an_identifier() -> None:
    from carnet.accounts.roles import Role
    from carnet.subjects.services import ConsentGiven, subject_include
    from tests.accounts.personas import person, world
    from tests.subjects.conftest import ELIGIBLE, TODAY

    with time_machine.travel(datetime(2025, 6, 16, 10, 0, tzinfo=UTC), tick=True):
        w = world()
        alice = person("alice", study=w.study, role=Role.INVESTIGATOR, sites=[w.site_a])
        start = threading.Barrier(INCLUDERS)
        failures: list[BaseException] = []

        def work() -> None:
            try:
                start.wait()
                for _ in range(EACH):
                    subject_include(
                        actor=alice,
                        study=w.study,
                        site=w.site_a,
                        included_on=TODAY,
                        eligibility=ELIGIBLE,
                        consent=ConsentGiven(form_version="v1", consented_on=TODAY),
                    )
            except BaseException as error:  # reported by the main thread
                failures.append(error)
            finally:
                connection.close()

        threads = [threading.Thread(target=work) for _ in range(INCLUDERS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert failures == []
    identifiers = sorted(Subject.objects.values_list("identifier", flat=True))
    assert identifiers == [f"01-{n:03}" for n in range(1, INCLUDERS * EACH + 1)]
