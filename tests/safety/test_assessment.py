"""Pharmacovigilance's assessment: causality never downgraded (a clear refusal in English and
French), expectedness against the RSI in force at onset, the SUSAR clock (time machine) and
unblinding for pharmacovigilance only."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
import time_machine
from django.utils import translation

from carnet.accounts.blinding import HIDDEN
from carnet.accounts.permissions import PermissionDenied
from carnet.randomization.models import Allocation
from carnet.randomization.services import subject_randomise
from carnet.safety.models import SaeReport
from carnet.safety.selectors import arm_shown
from carnet.safety.services import (
    AssessmentRefused,
    rsi_add,
    sae_assess,
    sae_version_sign,
    susar_reported,
    susar_unblind,
)
from tests.accounts.factories import PASSWORD
from tests.safety.conftest import TERM, Safety

pytestmark = pytest.mark.django_db
MEANING = "I have reviewed this report."
# Friday 5 March 2027, 10:00 UTC: the investigator's report reaches the sponsor (day 0).
SENT = datetime(2027, 3, 5, 10, 0, tzinfo=UTC)


def _sent(safety: Safety, **values: object) -> SaeReport:
    with time_machine.travel(SENT, tick=False):
        report = safety.serious_ae(**values)
        sae_version_sign(
            actor=safety.investigator, report=report, password=PASSWORD, meaning=MEANING
        )
    report.refresh_from_db()
    return report


def _rsi(safety: Safety) -> None:
    # Onset is 2 February 2026: version 1 is in force then; version 2 (which lists the term)
    # takes effect later and must not be used.
    rsi_add(
        actor=safety.vigilance,
        study=safety.world.study,
        version="IB v1",
        effective_from=date(2025, 6, 1),
        expected_terms=["Anaemia"],
    )
    rsi_add(
        actor=safety.vigilance,
        study=safety.world.study,
        version="IB v2",
        effective_from=date(2026, 3, 1),
        expected_terms=["Anaemia", TERM],
    )


def test_the_sponsor_may_upgrade_causality_never_downgrade_it(safety: Safety) -> None:
    report = _sent(safety)  # the investigator said 3, possible
    _rsi(safety)
    with pytest.raises(AssessmentRefused) as refused:
        sae_assess(actor=safety.vigilance, report=report, causality=2)
    assert refused.value.code == "downgrade"
    assert "never downgrade" in str(refused.value)
    assert "Possible" in str(refused.value)
    with translation.override("fr"), pytest.raises(AssessmentRefused) as refusé:
        sae_assess(actor=safety.vigilance, report=report, causality=1)
    assert "jamais" in str(refusé.value)
    report.refresh_from_db()
    assert report.sponsor_causality is None
    assessed = sae_assess(actor=safety.vigilance, report=report, causality=4)
    assert assessed.sponsor_causality == 4
    assert assessed.investigator_causality == 3


def test_expectedness_uses_the_rsi_in_force_at_onset_and_a_susar_starts_its_clock(
    safety: Safety,
) -> None:
    report = _sent(safety)
    _rsi(safety)
    with time_machine.travel(datetime(2027, 3, 6, 9, 0, tzinfo=UTC), tick=False):
        assessed = sae_assess(actor=safety.vigilance, report=report, causality=3)
    assert assessed.rsi is not None
    assert assessed.rsi.version == "IB v1"
    assert assessed.expected is False  # not listed in v1, although v2 lists it
    assert assessed.susar
    assert assessed.fatal_or_life_threatening  # life-threatening criterion
    # Day 0 is Friday 5 March (the sponsor's awareness), not the day of the assessment.
    assert assessed.susar_due_on == date(2027, 3, 12)
    assert assessed.follow_up_due_on == date(2027, 3, 20)
    susar_reported(actor=safety.vigilance, report=assessed, on=date(2027, 3, 11))
    assert assessed.susar_reported_on == date(2027, 3, 11)


def test_a_not_life_threatening_susar_has_15_days(safety: Safety) -> None:
    report = _sent(safety, ae_life=0)
    _rsi(safety)
    assessed = sae_assess(actor=safety.vigilance, report=report, causality=5, expected=False)
    assert (assessed.susar_due_on, assessed.follow_up_due_on) == (date(2027, 3, 20), None)


def test_an_unrelated_or_expected_event_is_no_susar(safety: Safety) -> None:
    report = _sent(safety, ae_rel=1)
    _rsi(safety)
    assert not sae_assess(actor=safety.vigilance, report=report, causality=2).susar
    assert not sae_assess(actor=safety.vigilance, report=report, causality=4, expected=True).susar


def test_without_rsi_in_force_expectedness_is_refused(safety: Safety) -> None:
    report = _sent(safety)
    with pytest.raises(AssessmentRefused, match="reference safety information"):
        sae_assess(actor=safety.vigilance, report=report, causality=3)


def test_only_pharmacovigilance_assesses(safety: Safety) -> None:
    report = _sent(safety)
    for someone in (safety.investigator, safety.data_manager):
        with pytest.raises(PermissionDenied):
            sae_assess(actor=someone, report=report, causality=4, expected=False)


def test_the_pharmacovigilance_unit_sees_the_arm_of_an_unblinded_susar_nobody_else_does(
    safety: Safety,
) -> None:
    allocation = subject_randomise(actor=safety.nurse, subject=safety.subject)
    report = _sent(safety)
    _rsi(safety)
    report = sae_assess(actor=safety.vigilance, report=report, causality=4)
    assert arm_shown(safety.vigilance, report) == HIDDEN  # not yet unblinded
    arm = susar_unblind(actor=safety.vigilance, report=report, reason="SUSAR: expedited report")
    assert arm == Allocation.objects.get(pk=allocation.pk).arm
    assert arm_shown(safety.vigilance, report) == arm
    for someone in (safety.investigator, safety.nurse, safety.data_manager, safety.monitor):
        assert arm_shown(someone, report) == HIDDEN, someone.username
    with pytest.raises(PermissionDenied):
        susar_unblind(actor=safety.investigator, report=report, reason="curious")
