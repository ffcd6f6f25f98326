"""Reconciliation: every difference between the SAE report (its latest sent version) and the
serious adverse event in the casebook is listed; each becomes a query to the site or is
resolved with a reason; what is left open is counted for the database lock checklist."""

from __future__ import annotations

import pytest

from carnet.accounts.permissions import PermissionDenied
from carnet.audit.models import AuditEvent
from carnet.core.errors import ValidationError
from carnet.quality.models import Query
from carnet.safety.models import SaeReport
from carnet.safety.selectors import differences, unreconciled_count
from carnet.safety.services import (
    reconciliation_query,
    reconciliation_resolve,
    sae_version_sign,
)
from carnet.studies.models import StudyVersion
from tests.accounts.factories import PASSWORD
from tests.safety.conftest import TERM, Safety
from tests.studies.decodes import definition_decodes

pytestmark = pytest.mark.django_db
MEANING = "I have reviewed this report."


def _sent(safety: Safety) -> SaeReport:
    report = safety.serious_ae()
    sae_version_sign(actor=safety.investigator, report=report, password=PASSWORD, meaning=MEANING)
    return report


def test_a_reported_and_unchanged_event_is_reconciled(safety: Safety) -> None:
    _sent(safety)
    assert differences(safety.data_manager, safety.world.study) == []
    assert unreconciled_count(study=safety.world.study) == 0


def test_an_unsent_report_counts_as_unreconciled(safety: Safety) -> None:
    safety.serious_ae()
    assert unreconciled_count(study=safety.world.study) == 1


def test_each_difference_is_listed_then_queried_or_resolved(safety: Safety) -> None:
    report = _sent(safety)
    # The site changes the casebook after the report went: term and outcome differ.
    safety.save_ae(report.form_instance.version, ae_term="Neutropenic sepsis", ae_out=5)
    found = {d.field: d for d in differences(safety.data_manager, safety.world.study)}
    assert sorted(found) == ["outcome", "term"]
    assert (found["term"].safety_value, found["term"].clinical_value) == (
        TERM,
        "Neutropenic sepsis",
    )
    assert (found["outcome"].safety_value, found["outcome"].clinical_value) == (
        "Not recovered / not resolved",
        "Fatal",
    )
    assert unreconciled_count(study=safety.world.study) == 2

    term = found["term"]
    reconciliation_query(
        actor=safety.data_manager,
        report=report,
        field="term",
        safety_value=term.safety_value,
        clinical_value=term.clinical_value,
        text="The SAE report says febrile neutropenia: which is right?",
    )
    [query] = Query.objects.filter(subject=safety.subject)
    assert query.form_instance == report.form_instance
    assert unreconciled_count(study=safety.world.study) == 1

    outcome = found["outcome"]
    with pytest.raises(ValidationError, match="reason"):
        reconciliation_resolve(
            actor=safety.vigilance,
            report=report,
            field="outcome",
            safety_value=outcome.safety_value,
            clinical_value=outcome.clinical_value,
            reason=" ",
        )
    reconciliation_resolve(
        actor=safety.vigilance,
        report=report,
        field="outcome",
        safety_value=outcome.safety_value,
        clinical_value=outcome.clinical_value,
        reason="Follow-up report on its way",
    )
    assert unreconciled_count(study=safety.world.study) == 0
    decided = {d.field: d.decision for d in differences(safety.data_manager, safety.world.study)}
    assert decided["term"] is not None
    assert decided["term"].outcome == "query"
    assert decided["outcome"] is not None
    assert decided["outcome"].reason == "Follow-up report on its way"
    assert AuditEvent.objects.filter(action="safety.reconciliation_decided").count() == 2


def test_a_monitor_or_a_site_does_not_reconcile(safety: Safety) -> None:
    report = _sent(safety)
    for someone in (safety.monitor, safety.nurse, safety.investigator):
        with pytest.raises(PermissionDenied):
            reconciliation_resolve(
                actor=someone,
                report=report,
                field="term",
                safety_value="a",
                clinical_value="b",
                reason="fine",
            )


def test_the_count_decodes_each_study_version_once_whatever_the_number_of_events(
    safety: Safety, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The lock checklist's count read every yes-valued item of the study with its version's
    # whole definition, decoded once per row: hours at 10,000 patients. Each version is decoded
    # once, whatever the number of rows.
    for repeat in (1, 2, 3):
        safety.save_ae(None, repeat=repeat, ae_term=TERM, grave=1, ae_life=1, ae_hosp=1)
    with definition_decodes(monkeypatch) as decoded:
        count = unreconciled_count(study=safety.world.study)
    assert count == 3
    assert len(decoded) <= StudyVersion.objects.filter(study=safety.world.study).count()
