"""An adverse event marked serious opens exactly one SAE report, filled from the casebook;
the investigator signs each version, which goes to pharmacovigilance; the 24-hour clock flags
a late report; every step is audited."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine

from carnet.accounts.permissions import PermissionDenied
from carnet.audit.models import AuditEvent
from carnet.core.errors import ValidationError
from carnet.messaging.models import Message
from carnet.safety.models import SaeReport
from carnet.safety.services import sae_version_prepare, sae_version_sign
from tests.accounts.factories import PASSWORD
from tests.safety.conftest import TERM, Safety

pytestmark = pytest.mark.django_db
MEANING = "I have reviewed this report."


def test_a_serious_ae_opens_one_report_filled_from_the_casebook(safety: Safety) -> None:
    first = safety.save_ae(None, ae_term=TERM, ae_start="2026-02-02", ae_grade=4, grave=0)
    assert not SaeReport.objects.exists()  # not serious
    second = safety.save_ae(first.form_instance.version, grave=1, ae_life=1, ae_rel=3)
    third = safety.save_ae(second.form_instance.version, grave=0)
    safety.save_ae(third.form_instance.version, grave=1)  # serious again: still one report
    [report] = SaeReport.objects.all()
    assert report.reference == "MINI-SAE-0001"
    assert report.form_instance == first.form_instance
    [version] = report.versions.all()
    content = version.content
    event = content["adverse_event"]
    assert event["term"]["text"] == TERM
    assert event["onset"]["text"] == "2026-02-02"
    assert event["life_threatening"]["label"] == {"en": "Yes", "fr": "Oui"}
    assert event["causality"]["label"]["en"] == "Possible"
    assert [row["CMTRT"]["text"] for row in content["concomitant"]] == ["Paracetamol"]
    assert AuditEvent.objects.filter(action="safety.sae_report_opened").count() == 1


def test_a_second_adverse_event_opens_its_own_report(safety: Safety) -> None:
    safety.serious_ae()
    safety.save_ae(None, repeat=2, ae_term="Sepsis", grave=1)
    assert sorted(SaeReport.objects.values_list("reference", flat=True)) == [
        "MINI-SAE-0001",
        "MINI-SAE-0002",
    ]


def test_the_investigator_signs_the_initial_report_and_pharmacovigilance_is_told(
    safety: Safety,
) -> None:
    with time_machine.travel(datetime(2027, 3, 3, 8, 0, tzinfo=UTC), tick=False):
        report = safety.serious_ae()
    with time_machine.travel(datetime(2027, 3, 4, 7, 59, tzinfo=UTC), tick=False):
        sae_version_prepare(
            actor=safety.investigator, report=report, narrative="Admitted on day 12."
        )
        version = sae_version_sign(
            actor=safety.investigator, report=report, password=PASSWORD, meaning=MEANING
        )
    assert version.number == 1
    assert version.signature is not None
    assert version.signature.signer == safety.investigator
    assert not version.late  # 23 h 59 after awareness
    report.refresh_from_db()
    assert str(report.sponsor_aware_on) == "2027-03-04"
    [told] = Message.objects.filter(recipient=safety.vigilance, subject__contains="SAE report")
    assert TERM not in told.body
    assert AuditEvent.objects.filter(action="safety.sae_version_sent").count() == 1
    assert AuditEvent.objects.filter(action="signature.applied").count() == 1

    # A follow-up: a new version from the casebook, signed again.
    safety.save_ae(report.form_instance.version, ae_out=1, ae_end="2026-02-20")
    follow_up = sae_version_prepare(actor=safety.investigator, report=report, narrative="Resolved.")
    assert follow_up.number == 2
    assert follow_up.content["adverse_event"]["outcome"]["label"]["en"] == "Recovered / resolved"
    sae_version_sign(actor=safety.investigator, report=report, password=PASSWORD, meaning=MEANING)
    assert [v.number for v in report.versions.filter(sent_at__isnull=False)] == [1, 2]


def test_a_report_sent_after_24_hours_is_flagged_late(safety: Safety) -> None:
    with time_machine.travel(datetime(2027, 3, 3, 8, 0, tzinfo=UTC), tick=False):
        report = safety.serious_ae()
    with time_machine.travel(datetime(2027, 3, 4, 8, 1, tzinfo=UTC), tick=False):
        version = sae_version_sign(
            actor=safety.investigator, report=report, password=PASSWORD, meaning=MEANING
        )
    assert version.late


def test_only_an_investigator_of_the_site_signs_and_a_wrong_password_signs_nothing(
    safety: Safety,
) -> None:
    report = safety.serious_ae()
    for someone in (safety.nurse, safety.investigator_b, safety.vigilance):
        with pytest.raises(PermissionDenied):
            sae_version_sign(actor=someone, report=report, password=PASSWORD, meaning=MEANING)
    with pytest.raises(ValidationError, match="password"):
        sae_version_sign(
            actor=safety.investigator, report=report, password="wrong", meaning=MEANING
        )
    assert not report.versions.filter(sent_at__isnull=False).exists()


def test_the_audit_trail_verifies_with_the_reports_counted(safety: Safety) -> None:
    from carnet.audit.coverage import audited_data
    from carnet.audit.verification import audit_verify

    report = safety.serious_ae()
    sae_version_sign(actor=safety.investigator, report=report, password=PASSWORD, meaning=MEANING)
    counted = {d.what: d.count for d in audited_data()[safety.world.study.audit_chain]}
    assert counted["SAE reports"] == 1
    assert audit_verify().intact
