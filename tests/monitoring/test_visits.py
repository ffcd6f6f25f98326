"""Monitoring visits (issue 19, item 2): a monitor opens a visit of their site, the SDV they do
there joins it, they record the subjects reviewed, findings and follow-up actions and close it;
its report reads as HTML and PDF; all audited; another site's monitor is refused."""

from __future__ import annotations

from datetime import date

import pytest

from carnet.accounts.permissions import PermissionDenied
from carnet.audit.models import AuditEvent
from carnet.core.errors import ValidationError
from carnet.monitoring.models import MonitoringVisit, SourceVerification
from carnet.monitoring.report import visit_report_html
from carnet.monitoring.services import (
    monitoring_visit_close,
    monitoring_visit_create,
    monitoring_visit_update,
    sdv_verify,
)
from tests.monitoring.conftest import KIT, Monitoring

pytestmark = pytest.mark.django_db


def open_visit(m: Monitoring) -> MonitoringVisit:
    return monitoring_visit_create(
        actor=m.monitor, study=m.study, site=m.world.site_a, visit_date=date(2026, 3, 2)
    )


def test_the_sdv_done_during_a_visit_is_linked_to_it_and_to_its_report(
    monitoring: Monitoring,
) -> None:
    m = monitoring
    m.vitals()
    visit = open_visit(m)
    sdv_verify(actor=m.monitor, subject=m.subject, event="baseline", occurrence=1)
    assert SourceVerification.objects.filter(visit=visit).count() == 5
    visit = monitoring_visit_update(
        actor=m.monitor,
        visit=visit,
        findings="Weight of 01-001 transcribed from the wrong visit.",
        follow_up="Site to correct the weight by 15 March.",
    )
    m.save(values={"weight": 72}, reason="")
    html = visit_report_html(visit)
    assert "01-001" in html
    assert "5 item values verified" in html
    assert "1 reset since by a change" in html
    assert "Site to correct the weight by 15 March." in html
    assert KIT not in html
    monitoring_visit_close(actor=m.monitor, visit=visit)
    with pytest.raises(ValidationError, match="closed"):
        monitoring_visit_update(actor=m.monitor, visit=visit, findings="", follow_up="")
    # Once closed, the monitor's later SDV joins no visit.
    sdv_verify(actor=m.monitor, subject=m.subject, event="baseline", occurrence=1)
    assert SourceVerification.objects.get(reset_at=None, item="weight").visit is None
    actions = list(
        AuditEvent.objects.filter(action__startswith="monitoring.visit")
        .order_by("seq")
        .values_list("action", flat=True)
    )
    assert actions == [
        "monitoring.visit_opened",
        "monitoring.visit_updated",
        "monitoring.visit_closed",
    ]


def test_only_a_monitor_of_the_site_opens_a_visit_and_only_its_monitor_records_it(
    monitoring: Monitoring,
) -> None:
    m = monitoring
    for user in (m.monitor_b, m.nurse, m.manager):
        with pytest.raises(PermissionDenied):
            monitoring_visit_create(
                actor=user, study=m.study, site=m.world.site_a, visit_date=date(2026, 3, 2)
            )
    visit = open_visit(m)
    with pytest.raises(PermissionDenied):
        monitoring_visit_update(actor=m.monitor_b, visit=visit, findings="x", follow_up="")
    with pytest.raises(ValidationError, match="no subject 02-001"):
        monitoring_visit_update(
            actor=m.monitor, visit=visit, findings="", follow_up="", subjects=["02-001"]
        )


def test_the_visit_pages_the_pdf_and_the_api(monitoring: Monitoring) -> None:
    m = monitoring
    m.vitals()
    client = m.client(m.monitor)
    opened = client.post(
        "/studies/MINI/monitoring/visits/new/",
        {"site": "01", "visit_date": "2026-03-02", "subjects": "01-001"},
    )
    visit = MonitoringVisit.objects.get()
    assert opened.status_code == 302
    assert opened["Location"] == f"/studies/MINI/monitoring/visits/{visit.pk}/"
    client.post(SUBJECT_VERIFY, {"event": "baseline", "occurrence": "1"})
    client.post(
        f"/studies/MINI/monitoring/visits/{visit.pk}/record/",
        {"findings": "Consent of 01-001 filed.", "follow_up": "None.", "close": "1"},
    )
    visit.refresh_from_db()
    assert not visit.is_open
    assert visit.findings == "Consent of 01-001 filed."
    page = client.get(f"/studies/MINI/monitoring/visits/{visit.pk}/").content.decode()
    assert "5 item values verified" in page
    assert 'id="visit-record-form"' not in page
    pdf = client.get(f"/studies/MINI/monitoring/visits/{visit.pk}/report.pdf")
    assert pdf.status_code == 200
    assert pdf.content.startswith(b"%PDF")
    assert (
        m.client(m.monitor_b).get(f"/studies/MINI/monitoring/visits/{visit.pk}/").status_code == 404
    )
    api = m.api(m.monitor)
    answer = api.get(f"/api/studies/MINI/monitoring/visits/{visit.pk}").json()
    assert answer["verified"] == 5
    assert answer["subjects"] == ["01-001"]
    assert answer["open"] is False
    created = api.post(
        "/api/studies/MINI/monitoring/visits",
        {"site": "01", "visit_date": "2026-04-01"},
        content_type="application/json",
    )
    assert created.status_code == 201, created.content
    pk = created.json()["id"]
    recorded = api.put(
        f"/api/studies/MINI/monitoring/visits/{pk}",
        {"findings": "f", "follow_up": "a", "subjects": ["01-001"]},
        content_type="application/json",
    )
    assert recorded.json()["subjects"] == ["01-001"]
    assert api.post(f"/api/studies/MINI/monitoring/visits/{pk}/close").json()["open"] is False
    assert m.api(m.monitor_b).get("/api/studies/MINI/monitoring/visits").json() == []


SUBJECT_VERIFY = "/studies/MINI/subjects/01-001/sdv/verify/"
