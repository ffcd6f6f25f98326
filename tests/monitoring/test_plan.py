"""The monitoring plan (issue 19, item 1): every item, SDV-critical items only, every item of the
first N patients of each site then critical items, or of a reproducible random share; counted in
the database (the database lock's checklist reads `sdv_outstanding`), progress per site and per
monitor by GROUP BY."""

from __future__ import annotations

from datetime import date

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from carnet.accounts.permissions import PermissionDenied
from carnet.audit.models import AuditEvent
from carnet.core.errors import ValidationError
from carnet.monitoring.selectors import (
    Plan,
    drawn,
    fully_verified_subjects,
    plan_of,
    sdv_outstanding,
    sdv_progress_by_monitor,
    sdv_progress_by_site,
)
from carnet.monitoring.services import monitoring_plan_set, sdv_verify
from tests.monitoring.conftest import Monitoring

pytestmark = pytest.mark.django_db

# Per subject with vitals saved: weight, height, sbp, dbp, kit_number (bmi is calculated);
# weight alone is SDV-critical.
PER_SUBJECT = 5


def test_without_a_plan_every_entered_item_is_required(monitoring: Monitoring) -> None:
    m = monitoring
    assert plan_of(m.study).rule == "all"
    m.vitals()
    assert sdv_outstanding(study=m.study) == PER_SUBJECT
    sdv_verify(
        actor=m.monitor,
        subject=m.subject,
        event="baseline",
        occurrence=1,
        form="vitals",
        item="sbp",
    )
    assert sdv_outstanding(study=m.study) == PER_SUBJECT - 1
    m.save(values={"sbp": 130})  # the change resets it: outstanding again
    assert sdv_outstanding(study=m.study) == PER_SUBJECT


def test_critical_items_only(monitoring: Monitoring) -> None:
    m = monitoring
    monitoring_plan_set(actor=m.manager, study=m.study, rule="critical")
    m.vitals()
    assert sdv_outstanding(study=m.study) == 1
    sdv_verify(
        actor=m.monitor,
        subject=m.subject,
        event="baseline",
        occurrence=1,
        form="vitals",
        item="weight",
    )
    assert sdv_outstanding(study=m.study) == 0


def test_the_first_patients_of_each_site_fully_then_critical_items(monitoring: Monitoring) -> None:
    m = monitoring
    second = m.include(on=date(2026, 1, 6))
    third = m.include(on=date(2026, 1, 7))
    at_b = m.include(site="b")
    for subject in (m.subject, second, third, at_b):
        m.vitals(subject)
    monitoring_plan_set(actor=m.manager, study=m.study, rule="first_patients", first_patients=2)
    chosen = set(fully_verified_subjects(m.study, plan_of(m.study)))
    assert chosen == {m.subject.pk, second.pk, at_b.pk}
    # Three subjects in full, the third of site A by its critical weight alone.
    assert sdv_outstanding(study=m.study) == 3 * PER_SUBJECT + 1
    by_site = {
        row.site: (row.required, row.verified) for row in sdv_progress_by_site(m.manager, m.study)
    }
    assert by_site == {"01": (2 * PER_SUBJECT + 1, 0), "02": (PER_SUBJECT, 0)}


def test_a_random_share_per_site_is_reproducible_with_its_seed(monitoring: Monitoring) -> None:
    m = monitoring
    subjects = [m.subject] + [m.include() for _ in range(11)]
    plan = Plan(rule="random_share", share_percent=30, seed="ACC-2026")
    first = [s.identifier for s in subjects if drawn(plan, m.study, s.identifier)]
    again = [s.identifier for s in subjects if drawn(plan, m.study, s.identifier)]
    assert first == again
    assert 0 < len(first) < len(subjects)
    other = Plan(rule="random_share", share_percent=30, seed="another seed")
    assert [s.identifier for s in subjects if drawn(other, m.study, s.identifier)] != first
    everyone = Plan(rule="random_share", share_percent=100, seed="x")
    assert all(drawn(everyone, m.study, s.identifier) for s in subjects)
    monitoring_plan_set(
        actor=m.manager, study=m.study, rule="random_share", share_percent=30, seed="ACC-2026"
    )
    chosen = fully_verified_subjects(m.study, plan_of(m.study))
    assert sorted(s.identifier for s in subjects if s.pk in chosen) == sorted(first)
    # A new inclusion does not change who was drawn before it.
    m.include()
    later = fully_verified_subjects(m.study, plan_of(m.study))
    assert set(chosen) <= set(later)


def test_setting_the_plan_is_for_data_managers_checked_and_audited(monitoring: Monitoring) -> None:
    m = monitoring
    for user in (m.monitor, m.nurse):
        with pytest.raises(PermissionDenied):
            monitoring_plan_set(actor=user, study=m.study, rule="critical")
    with pytest.raises(ValidationError, match="rule"):
        monitoring_plan_set(actor=m.manager, study=m.study, rule="some")
    with pytest.raises(ValidationError, match="share_percent"):
        monitoring_plan_set(actor=m.manager, study=m.study, rule="random_share", share_percent=0)
    monitoring_plan_set(actor=m.manager, study=m.study, rule="critical")
    monitoring_plan_set(actor=m.manager, study=m.study, rule="first_patients", first_patients=5)
    events = list(AuditEvent.objects.filter(action="monitoring.plan_set").order_by("seq"))
    assert [e.new["rule"] for e in events] == ["critical", "first_patients"]
    assert events[1].old["rule"] == "critical"


def test_the_plan_page_and_api(monitoring: Monitoring) -> None:
    m = monitoring
    client = m.client(m.manager)
    assert client.get("/studies/MINI/monitoring/plan/").status_code == 200
    refused = client.post(
        "/studies/MINI/monitoring/plan/", {"rule": "random_share", "share_percent": "0"}
    )
    assert refused.status_code == 400
    assert "share_percent" in refused.content.decode()
    client.post(
        "/studies/MINI/monitoring/plan/",
        {"rule": "critical", "first_patients": "3", "share_percent": "20", "seed": "s"},
    )
    assert plan_of(m.study).rule == "critical"
    assert m.client(m.monitor).get("/studies/MINI/monitoring/plan/").status_code == 404
    api = m.api(m.manager)
    answer = api.put(
        "/api/studies/MINI/monitoring/plan",
        {"rule": "first_patients", "first_patients": 2},
        content_type="application/json",
    )
    assert answer.status_code == 200, answer.content
    assert m.api(m.monitor).get("/api/studies/MINI/monitoring/plan").json()["first_patients"] == 2


def test_progress_per_site_and_per_monitor_take_a_fixed_number_of_queries(
    monitoring: Monitoring,
) -> None:
    m = monitoring
    for subject in [m.subject] + [m.include() for _ in range(3)]:
        m.vitals(subject)
        sdv_verify(actor=m.monitor, subject=subject)
    at_b = m.include(site="b")
    m.vitals(at_b)
    sdv_verify(
        actor=m.monitor_b,
        subject=at_b,
        event="baseline",
        occurrence=1,
        form="vitals",
        item="weight",
    )
    with CaptureQueriesContext(connection) as few:
        sites = sdv_progress_by_site(m.manager, m.study)
        monitors = sdv_progress_by_monitor(m.manager, m.study)
    assert len(few.captured_queries) < 15
    assert [(s.site, s.required, s.verified) for s in sites] == [
        ("01", 4 * PER_SUBJECT, 4 * PER_SUBJECT),
        ("02", PER_SUBJECT, 1),
    ]
    assert [(x.monitor, x.verified, x.subjects) for x in monitors] == [
        ("Bruno", 1, 1),
        ("Sophie", 4 * PER_SUBJECT, 4),
    ]
    # A monitor of site A sees site A's progress only.
    assert [s.site for s in sdv_progress_by_site(m.monitor, m.study)] == ["01"]
    assert [x.monitor for x in sdv_progress_by_monitor(m.monitor, m.study)] == ["Sophie"]
    page = m.client(m.monitor).get("/studies/MINI/monitoring/").content.decode()
    assert 'data-site="01"' in page
    assert 'data-site="02"' not in page
    answer = m.api(m.manager).get("/api/studies/MINI/monitoring/progress").json()
    assert answer["sites"][1] == {
        "site": "02",
        "required": PER_SUBJECT,
        "verified": 1,
        "outstanding": PER_SUBJECT - 1,
    }
