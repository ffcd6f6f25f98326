"""The outbox: a message is written in the transaction that causes it and e-mailed by the worker
after the commit; a rollback takes it back; a mail server outage loses nothing and the worker
tries again later and later; each message records where it went and when."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend
from django.core.management import call_command
from django.db import transaction
from django.test import override_settings
from django_tasks_db.models import DBTaskResult

from carnet.accounts.models import User
from carnet.messaging.models import Message
from carnet.messaging.services import message_send, retry_delay
from tests.accounts.personas import person

NOON = datetime(2025, 6, 16, 12, 0, tzinfo=UTC)


class MailServerDown(BaseEmailBackend):
    """A mail server that cannot be reached."""

    def send_messages(self, email_messages: Any) -> int:
        raise ConnectionRefusedError("[Errno 111] Connection refused")


DOWN = "tests.messaging.test_outbox.MailServerDown"


def worker() -> str:
    out = io.StringIO()
    call_command("worker", "--once", stdout=out)
    return out.getvalue()


def with_address(username: str, *, language: str = "") -> User:
    user = person(username)
    user.email = f"{username}@icm.example.org"
    user.language = language
    user.save(update_fields=["email", "language"])
    return user


def deliveries() -> list[str]:
    return list(
        DBTaskResult.objects.filter(task_path="carnet.messaging.tasks.message_deliver")
        .order_by("enqueued_at")
        .values_list("status", flat=True)
    )


@pytest.mark.django_db(transaction=True)
def test_a_message_is_sent_after_the_commit_and_records_where_and_when() -> None:
    alice = with_address("alice")
    with transaction.atomic():
        message = message_send(recipient=alice, subject="Query opened", body="Please check.")
        assert deliveries() == []  # nothing leaves while the transaction may roll back
    assert deliveries() == ["READY"]
    assert mail.outbox == []  # without a worker the message waits, kept in the outbox

    worker()

    assert [(m.subject, m.to, m.body) for m in mail.outbox] == [
        ("Query opened", ["alice@icm.example.org"], "Please check.")
    ]
    message.refresh_from_db()
    assert message.address == "alice@icm.example.org"
    assert message.sent_at is not None
    assert message.attempts == 1
    assert message.next_attempt_at is None
    worker()
    assert len(mail.outbox) == 1  # sent once


@pytest.mark.django_db(transaction=True)
def test_a_message_of_a_transaction_that_rolls_back_is_neither_kept_nor_sent() -> None:
    alice = with_address("alice")

    class Refused(Exception):
        pass

    def refused_save() -> None:
        with transaction.atomic():
            message_send(recipient=alice, subject="Never", body="Rolled back.")
            raise Refused

    with pytest.raises(Refused):
        refused_save()
    worker()
    assert not Message.objects.exists()
    assert deliveries() == []
    assert mail.outbox == []


@pytest.mark.django_db
def test_a_mail_outage_loses_nothing_and_retries_later_and_later(
    django_capture_on_commit_callbacks: Any,
) -> None:
    alice = with_address("alice")
    with time_machine.travel(NOON, tick=False) as clock:
        with django_capture_on_commit_callbacks(execute=True):
            message = message_send(recipient=alice, subject="Digest", body="3 visits overdue.")
        with override_settings(EMAIL_BACKEND=DOWN):
            worker()
            message.refresh_from_db()
            assert message.sent_at is None
            assert message.attempts == 1
            assert message.next_attempt_at == NOON + timedelta(minutes=1)
            assert "Connection refused" in message.last_error
            # The next attempt waits in the queue for its time.
            assert deliveries().count("READY") == 1

            worker()  # too early: nothing is tried
            message.refresh_from_db()
            assert message.attempts == 1

            clock.move_to(NOON + timedelta(minutes=1))
            worker()
            message.refresh_from_db()
            assert message.attempts == 2
            assert message.next_attempt_at == NOON + timedelta(minutes=1 + 2)

        assert mail.outbox == []
        clock.move_to(NOON + timedelta(minutes=3))  # the server is back
        worker()
    message.refresh_from_db()
    assert message.sent_at == NOON + timedelta(minutes=3)
    assert message.attempts == 3
    assert message.last_error == ""
    assert [m.to for m in mail.outbox] == [["alice@icm.example.org"]]


def test_the_wait_between_attempts_doubles_up_to_six_hours() -> None:
    assert [retry_delay(n) for n in (1, 2, 3, 4)] == [
        timedelta(minutes=minutes) for minutes in (1, 2, 4, 8)
    ]
    assert retry_delay(9) == timedelta(hours=4, minutes=16)
    assert retry_delay(10) == timedelta(hours=6)
    assert retry_delay(1000) == timedelta(hours=6)


@pytest.mark.django_db
def test_the_sweep_sends_a_message_whose_task_was_lost() -> None:
    # The server was killed between its commit and the enqueueing: the message is in the
    # outbox with no task; the periodic sweep sends it.
    alice = with_address("alice")
    message_send(recipient=alice, subject="Lost task", body="Still sent.")  # on_commit never runs
    assert deliveries() == []
    worker()  # the first run of the outbox-flush job
    assert [m.subject for m in mail.outbox] == ["Lost task"]


@pytest.mark.django_db
def test_a_message_under_a_key_already_written_is_not_written_again() -> None:
    alice = with_address("alice")
    first = message_send(recipient=alice, subject="Digest", body="One.", key="digest:alice:1")
    second = message_send(recipient=alice, subject="Digest", body="Two.", key="digest:alice:1")
    assert first.pk == second.pk
    assert Message.objects.count() == 1


@pytest.mark.django_db
def test_a_person_without_an_address_keeps_the_message_in_carnet_only(
    django_capture_on_commit_callbacks: Any,
) -> None:
    nadia = person("nadia")
    with django_capture_on_commit_callbacks(execute=True):
        message = message_send(recipient=nadia, subject="Note", body="Read it in Carnet.")
    worker()
    message.refresh_from_db()
    assert (message.address, message.sent_at, message.next_attempt_at) == ("", None, None)
    assert mail.outbox == []
    assert deliveries() == []


@pytest.mark.django_db
def test_the_worker_status_says_what_waits_in_the_outbox(
    django_capture_on_commit_callbacks: Any,
) -> None:
    alice = with_address("alice")
    with django_capture_on_commit_callbacks(execute=True):
        message_send(recipient=alice, subject="Digest", body="Soon.")
    with override_settings(EMAIL_BACKEND=DOWN):
        worker()
    status = io.StringIO()
    call_command("worker", "--status", stdout=status)
    assert (
        "Outbox: 1 messages waiting to be sent, 1 after a failed attempt (last error: "
        "ConnectionRefusedError: [Errno 111] Connection refused)" in status.getvalue()
    )


@pytest.mark.django_db
def test_a_message_is_written_in_the_recipients_language() -> None:
    claire = with_address("claire", language="fr")
    bob = with_address("bob")
    assert message_send(recipient=claire, subject="S", body="B").language == "fr"
    assert message_send(recipient=bob, subject="S", body="B").language == "en"
