# ruff: noqa: E501  (the study's YAML reads better one item per line)
"""Adverse events of special interest (AESI) and pregnancy reports: the study declares them;
an AESI opens its own report with the study's limit (a serious one is an SAE flagged AESI; an
AESI turning serious becomes an SAE); a pregnancy form opens a pregnancy report, signed,
sent, followed up to its outcome by the expected delivery; both on the dashboard, the API, and
(AESIs) in the line listing; audited."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.test import Client
from django.urls import reverse

from carnet.accounts.services import token_create
from carnet.audit.models import AuditEvent
from carnet.capture.services import form_save
from carnet.messaging.models import Message
from carnet.safety import documents, selectors
from carnet.safety.models import SaeReport
from carnet.safety.services import (
    AssessmentRefused,
    rsi_add,
    sae_assess,
    sae_version_prepare,
    sae_version_sign,
)
from tests.accounts.factories import PASSWORD
from tests.accounts.personas import ADMIN
from tests.safety.conftest import Safety, safety_study
from tests.safety.test_pages import _client

pytestmark = pytest.mark.django_db
MEANING = "I have reviewed this report."
PREGNANCY_FORM = """  - name: pregnancy
    label: {en: Pregnancy, fr: Grossesse}
    groups:
      - name: preg
        items:
          - {name: preg_who, type: text, label: {en: Pregnant person, fr: Personne enceinte}}
          - {name: preg_lmp, type: date, label: {en: Last menstrual period, fr: Dernières règles}}
          - {name: preg_edd, type: date, label: {en: Expected delivery, fr: Terme prévu}}
          - {name: preg_exposure, type: text, label: {en: Exposure, fr: Exposition}}
          - {name: preg_outcome, type: text, label: {en: Outcome, fr: Issue}}
          - {name: preg_outcome_date, type: date, label: {en: Outcome date, fr: Date de l'issue}}
  - name: conmed
"""
EXTRA = (
    (
        "factors: [site, smoker]}}",
        "factors: [site, smoker]}, safety: {aesi: {terms: [Hepatotoxicity, Interstitial lung disease], within_hours: 72}, pregnancy: {form: pregnancy}}}",
    ),
    (
        "label: {en: Outcome, fr: Évolution}}\n",
        "label: {en: Outcome, fr: Évolution}}\n          - {name: ae_special, sas_name: AESI, type: single_choice, code_list: yes_no, label: {en: Of special interest, fr: D'intérêt particulier}}\n",
    ),
    ("    forms: [lesions, adverse_event]\n", "    forms: [lesions, adverse_event, pregnancy]\n"),
    ("  - name: conmed\n", PREGNANCY_FORM),
)


@pytest.fixture
def special(tmp_path: Path) -> Safety:
    return safety_study(tmp_path, EXTRA)


def _pregnancy(special: Safety, base: int | None = 0, **values: Any) -> SaeReport:
    outcome = form_save(
        actor=special.nurse,
        subject=special.subject,
        event="adverse_events",
        form="pregnancy",
        base_version=base,
        values=values,
    )
    return SaeReport.objects.get(form_instance=outcome.form_instance)


def test_a_non_serious_aesi_opens_its_own_report_with_the_studys_limit(special: Safety) -> None:
    with time_machine.travel(datetime(2027, 3, 1, 8, 0, tzinfo=UTC), tick=False):
        special.save_ae(None, ae_term="  hepatotoxicity ", ae_start="2026-02-02", ae_grade=2)
    [report] = SaeReport.objects.all()
    assert (report.reference, report.kind, report.aesi) == ("MINI-AESI-0001", "aesi", True)
    assert report.site_limit_hours == 72
    assert report.versions.get().content["adverse_event"]["term"]["text"] == "  hepatotoxicity "
    assert AuditEvent.objects.filter(action="safety.aesi_report_opened").count() == 1
    # 71 hours later: in time.
    with time_machine.travel(datetime(2027, 3, 4, 7, 0, tzinfo=UTC), tick=False):
        version = sae_version_sign(
            actor=special.investigator, report=report, password=PASSWORD, meaning=MEANING
        )
    assert not version.late
    [told] = Message.objects.filter(recipient=special.vigilance, subject__contains="AESI report")
    assert "hepatotoxicity" not in told.body.lower()


def test_an_aesi_sent_after_the_studys_limit_is_late(special: Safety) -> None:
    with time_machine.travel(datetime(2027, 3, 1, 8, 0, tzinfo=UTC), tick=False):
        special.save_ae(None, ae_term="Rash", ae_start="2026-02-02", ae_grade=1, ae_special=1)
    report = SaeReport.objects.get()
    assert report.kind == "aesi"  # flagged on the form, whatever the term
    with time_machine.travel(datetime(2027, 3, 4, 8, 1, tzinfo=UTC), tick=False):
        assert selectors.clock_rows(special.vigilance, special.world.study)[0].site_state == (
            "overdue"
        )
        version = sae_version_sign(
            actor=special.investigator, report=report, password=PASSWORD, meaning=MEANING
        )
    assert version.late


def test_an_aesi_turning_serious_becomes_an_sae_with_its_24_hours(special: Safety) -> None:
    with time_machine.travel(datetime(2027, 3, 1, 8, 0, tzinfo=UTC), tick=False):
        first = special.save_ae(None, ae_term="Hepatotoxicity", ae_start="2026-02-02", ae_grade=2)
        report = SaeReport.objects.get()
        sae_version_sign(
            actor=special.investigator, report=report, password=PASSWORD, meaning=MEANING
        )
    with time_machine.travel(datetime(2027, 3, 2, 9, 0, tzinfo=UTC), tick=False):
        special.save_ae(first.form_instance.version, ae_grade=4, grave=1, ae_hosp=1)
    [report] = SaeReport.objects.all()
    assert (report.reference, report.kind, report.aesi) == ("MINI-AESI-0001", "sae", True)
    assert report.site_limit_hours == 24
    assert report.aware_at == datetime(2027, 3, 2, 9, 0, tzinfo=UTC)
    assert AuditEvent.objects.filter(action="safety.aesi_became_sae").count() == 1
    # The follow-up is the first report since the event turned serious: 25 hours is late.
    with time_machine.travel(datetime(2027, 3, 3, 10, 0, tzinfo=UTC), tick=False):
        sae_version_prepare(actor=special.investigator, report=report, narrative="Now serious.")
        follow_up = sae_version_sign(
            actor=special.investigator, report=report, password=PASSWORD, meaning=MEANING
        )
    assert (follow_up.number, follow_up.late) == (2, True)


def test_a_serious_aesi_is_an_sae_flagged_aesi_and_a_non_serious_one_is_never_a_susar(
    special: Safety,
) -> None:
    serious = special.serious_ae(ae_term="Interstitial lung disease")
    assert (serious.reference, serious.kind, serious.aesi) == ("MINI-SAE-0001", "sae", True)
    special.save_ae(None, repeat=2, ae_term="Hepatotoxicity", ae_start="2026-02-02", ae_rel=4)
    aesi = SaeReport.objects.get(kind="aesi")
    sae_version_sign(actor=special.investigator, report=aesi, password=PASSWORD, meaning=MEANING)
    rsi_add(
        actor=special.vigilance,
        study=special.world.study,
        version="IB 1",
        effective_from=date(2026, 1, 1),
        expected_terms=["Nausea"],
    )
    assessed = sae_assess(actor=special.vigilance, report=aesi, causality=4)
    assert (assessed.expected, assessed.susar, assessed.susar_due_on) == (False, False, None)


def test_a_study_declaring_no_aesi_opens_no_report_for_a_non_serious_event(
    safety: Safety,
) -> None:
    safety.save_ae(None, ae_term="Hepatotoxicity", ae_start="2026-02-02", ae_grade=2)
    assert not SaeReport.objects.exists()


def test_a_pregnancy_opens_its_report_signed_sent_and_followed_to_its_outcome(
    special: Safety,
) -> None:
    with time_machine.travel(datetime(2027, 3, 1, 8, 0, tzinfo=UTC), tick=False):
        report = _pregnancy(
            special,
            None,
            preg_who="partner",
            preg_lmp="2027-01-10",
            preg_edd="2027-10-17",
            preg_exposure="Study drug from 2026-01-05",
        )
    assert (report.reference, report.kind, report.site_limit_hours) == (
        "MINI-PREG-0001",
        "pregnancy",
        24,
    )
    content = report.versions.get().content
    assert content["pregnancy"]["edd"]["text"] == "2027-10-17"
    assert content["pregnancy"]["who"]["text"] == "partner"
    assert AuditEvent.objects.filter(action="safety.pregnancy_report_opened").count() == 1

    # The investigator signs it through the API; pharmacovigilance is told.
    _token, key = token_create(actor=ADMIN, user=special.investigator, study=special.world.study)
    api = Client(headers={"authorization": f"Bearer {key}"})
    with time_machine.travel(datetime(2027, 3, 1, 20, 0, tzinfo=UTC), tick=False):
        signed = api.post(
            f"/api/studies/MINI/safety/reports/{report.reference}/sign",
            {"meaning": MEANING, "password": PASSWORD},
            content_type="application/json",
        )
    assert signed.status_code == 200, signed.content
    assert not signed.json()["late"]
    assert Message.objects.filter(
        recipient=special.vigilance, subject__contains="pregnancy report"
    ).exists()
    listed = api.get("/api/studies/MINI/safety/reports").json()
    assert [(r["reference"], r["kind"], str(r["outcome_due_on"])) for r in listed] == [
        ("MINI-PREG-0001", "pregnancy", "2027-10-17")
    ]

    # Past the expected delivery without an outcome: overdue on the dashboard.
    rows = selectors.clock_rows(special.vigilance, special.world.study, today=date(2027, 10, 18))
    assert (rows[0].outcome_due_on, rows[0].outcome_state) == (date(2027, 10, 17), "overdue")

    # Not assessed for causality; no CIOMS-I or E2B.
    with pytest.raises(AssessmentRefused):
        sae_assess(actor=special.vigilance, report=report, causality=3)

    # The outcome on the form, then a follow-up signed: done.
    instance = report.form_instance
    instance.refresh_from_db()
    _pregnancy(special, instance.version, preg_outcome="Live birth", preg_outcome_date="2027-10-15")
    follow_up = sae_version_prepare(
        actor=special.investigator, report=report, narrative="Healthy baby.", follow_up=True
    )
    sae_version_sign(actor=special.investigator, report=report, password=PASSWORD, meaning=MEANING)
    assert follow_up.content["pregnancy"]["outcome"]["text"] == "Live birth"
    rows = selectors.clock_rows(special.vigilance, special.world.study, today=date(2027, 10, 18))
    assert rows[0].outcome_state == "done"


def test_the_pages_show_aesi_and_pregnancy_reports_and_the_listing_keeps_reactions(
    special: Safety,
) -> None:
    special.save_ae(None, ae_term="Hepatotoxicity", ae_start="2026-02-02", ae_grade=2)
    aesi = SaeReport.objects.get(kind="aesi")
    pregnancy = _pregnancy(special, None, preg_who="patient", preg_edd="2027-10-17")
    for report in (aesi, pregnancy):
        sae_version_sign(
            actor=special.investigator, report=report, password=PASSWORD, meaning=MEANING
        )
    client, _code = _client(special.vigilance)
    dashboard = client.get(reverse("safety:dashboard", args=["MINI"])).content.decode()
    assert "MINI-AESI-0001" in dashboard
    assert "MINI-PREG-0001" in dashboard
    page = client.get(reverse("safety:report", args=["MINI", pregnancy.reference]))
    text = page.content.decode()
    assert "Pregnancy report" in text
    assert 'id="pregnancy-outcome"' in text
    assert 'id="sae-assess"' not in text
    assert (
        client.get(reverse("safety:cioms", args=["MINI", pregnancy.reference, 1])).status_code
        == 404
    )
    aesi_page = client.get(reverse("safety:report", args=["MINI", aesi.reference]))
    assert 'id="sae-aesi"' in aesi_page.content.decode()
    today = date.today()
    listing = documents.line_listing_csv(
        SaeReport.objects.all(), start=date(2000, 1, 1), end=date(today.year + 1, 1, 1)
    )
    header, *lines = listing.splitlines()
    assert header.endswith(",kind,aesi")
    assert [line.split(",")[0] for line in lines] == ["MINI-AESI-0001"]
    assert lines[0].endswith(",aesi,yes")
