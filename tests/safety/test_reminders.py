"""The periodic job reminds pharmacovigilance of a SUSAR before its due date and once overdue,
and the site's investigators of a report not sent after 24 hours; once each (keyed)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
import time_machine

from carnet.messaging.models import Message
from carnet.safety.services import rsi_add, sae_assess, sae_version_sign
from carnet.safety.tasks import reminders_send
from carnet.worker.services import periodic_job_definitions
from tests.accounts.factories import PASSWORD
from tests.safety.conftest import TERM, Safety

pytestmark = pytest.mark.django_db
MEANING = "I have reviewed this report."


def _reminders(safety: Safety) -> list[str]:
    return list(
        Message.objects.filter(key__startswith="safety:")
        .order_by("pk")
        .values_list("subject", flat=True)
    )


def test_the_job_is_registered() -> None:
    assert "safety-reminders" in {job.name for job in periodic_job_definitions()}


def test_a_susar_is_reminded_before_it_falls_and_when_overdue_once_each(safety: Safety) -> None:
    with time_machine.travel(datetime(2027, 3, 5, 10, 0, tzinfo=UTC), tick=False):
        report = safety.serious_ae()
        sae_version_sign(
            actor=safety.investigator, report=report, password=PASSWORD, meaning=MEANING
        )
        rsi_add(
            actor=safety.vigilance,
            study=safety.world.study,
            version="IB v1",
            effective_from=date(2025, 6, 1),
            expected_terms=[],
        )
        sae_assess(actor=safety.vigilance, report=report, causality=4)  # due Friday 12 March
        assert reminders_send() == 0
    with time_machine.travel(datetime(2027, 3, 9, 10, 0, tzinfo=UTC), tick=False):
        assert reminders_send() == 0  # 3 days left
    with time_machine.travel(datetime(2027, 3, 10, 10, 0, tzinfo=UTC), tick=False):
        assert reminders_send() == 1
        reminders_send()  # again: nothing new
    assert _reminders(safety) == ["MINI: SUSAR MINI-SAE-0001 is due on 2027-03-12"]
    with time_machine.travel(datetime(2027, 3, 13, 0, 30, tzinfo=UTC), tick=False):
        assert reminders_send() == 1
    assert _reminders(safety)[-1] == "MINI: SUSAR MINI-SAE-0001 is overdue (due 2027-03-12)"
    assert all(TERM not in m.body for m in Message.objects.filter(key__startswith="safety:"))
    assert set(
        Message.objects.filter(key__startswith="safety:").values_list("recipient", flat=True)
    ) == {safety.vigilance.pk}


def test_the_site_is_reminded_of_a_report_not_sent_in_24_hours(safety: Safety) -> None:
    with time_machine.travel(datetime(2027, 3, 5, 10, 0, tzinfo=UTC), tick=False):
        safety.serious_ae()
    with time_machine.travel(datetime(2027, 3, 6, 9, 59, tzinfo=UTC), tick=False):
        assert reminders_send() == 0
    with time_machine.travel(datetime(2027, 3, 6, 10, 1, tzinfo=UTC), tick=False):
        assert reminders_send() == 1  # the site's investigator; not site B's
        assert reminders_send() == 0
    [message] = Message.objects.filter(key__startswith="safety:site")
    assert message.recipient == safety.investigator
