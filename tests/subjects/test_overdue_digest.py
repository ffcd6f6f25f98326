"""The daily overdue digest: each person who records visits learns how many are overdue at their
sites, once a day, in their language; a second run the same day writes nothing more."""

from __future__ import annotations

from datetime import UTC, date, datetime

import time_machine

from carnet.messaging.models import Message
from carnet.subjects.services import visit_record
from carnet.subjects.tasks import overdue_digest
from tests.subjects.conftest import Cast, include


def test_site_staff_get_the_count_of_their_overdue_visits_once_a_day(cast: Cast) -> None:
    subject = include(cast, on=date(2025, 6, 2))
    visit_record(actor=cast.alice, subject=subject, event="baseline", visit_on=date(2025, 6, 2))
    cast.alice.language = "fr"
    cast.alice.save(update_fields=["language"])
    assert overdue_digest.call() == 0  # cycle 1 is due today, not overdue

    with time_machine.travel(datetime(2025, 6, 21, 10, 0, tzinfo=UTC), tick=False):
        assert overdue_digest.call() == 1
        assert overdue_digest.call() == 0  # the same day again (a restart): nothing more

    message = Message.objects.get()
    # Alice records visits at site A; Bea at site B sees none of them; the monitor and the data
    # manager do not record visits.
    assert message.recipient == cast.alice
    assert message.language == "fr"
    assert message.subject == "Carnet : 1 visite en retard dans vos centres"
    assert f"{cast.study.identifier} : 1 visite en retard" in message.body
    assert f"/studies/{cast.study.identifier}/overdue/" in message.body
