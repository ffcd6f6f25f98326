"""The worker's part of the outbox: send a message, retry with backoff, sweep what waits."""

from __future__ import annotations

from datetime import timedelta

from django_tasks import TaskContext, task

from carnet.messaging.models import Message
from carnet.messaging.services import message_deliver_now, outbox_due
from carnet.worker.selectors import register_status_source
from carnet.worker.services import register_periodic_job


def _deliver(message_id: int, *, resume: bool = False) -> str:
    """E-mail one message; after a failed attempt, enqueue the next one at its time."""
    outcome = message_deliver_now(message_id=message_id, resume=resume)
    if outcome.startswith("failed"):
        message = Message.objects.get(pk=message_id)
        if message.next_attempt_at is not None:
            message_deliver.using(run_after=message.next_attempt_at).enqueue(message_id)
    return outcome


@task(takes_context=True)
def message_deliver(context: TaskContext, message_id: int) -> str:
    """E-mail one message of the outbox (enqueued after the commit that wrote it)."""
    # A second attempt of this very task means its worker died during the first one.
    return _deliver(message_id, resume=context.attempt > 1)


@task()
def outbox_flush() -> int:
    """Send every message whose attempt is due (those whose task was lost: a server killed
    between its commit and the enqueueing); return how many went out."""
    return sum(_deliver(pk) == "sent" for pk in outbox_due())


def outbox_status() -> list[str]:
    """Return the outbox's line for `carnet worker --status`."""
    waiting = Message.objects.filter(sent_at__isnull=True, next_attempt_at__isnull=False)
    failing = waiting.exclude(last_error="")
    line = f"Outbox: {waiting.count()} messages waiting to be sent"
    last = failing.order_by("-next_attempt_at").first()
    if last is not None:
        line += f", {failing.count()} after a failed attempt (last error: {last.last_error})"
    return [line]


def register() -> None:
    register_periodic_job("outbox-flush", outbox_flush, every=timedelta(minutes=10))
    register_status_source(outbox_status)
