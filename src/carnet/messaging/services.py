"""Write a message to the outbox, and send one: the only two ways a message changes."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import IntegrityError, transaction

from carnet.accounts.models import User
from carnet.core.clock import utc_now
from carnet.messaging.models import Message
from carnet.worker.services import enqueue_after_commit

logger = logging.getLogger("carnet.messaging")

# After a failed attempt the next waits 1, 2, 4 … minutes, at most 6 hours: a mail server down
# for a weekend gets a try every 6 hours, and nothing is dropped.
RETRY_FIRST = timedelta(minutes=1)
RETRY_LONGEST = timedelta(hours=6)
# Subject lines are one line of at most this many characters (the column's size).
SUBJECT_LENGTH = 200


def retry_delay(attempts: int) -> timedelta:
    """Return how long to wait after the `attempts`-th failed attempt."""
    if attempts < 1:
        return timedelta(0)
    # Capped before the power grows large: 2**20 minutes is already years.
    return min(RETRY_FIRST * 2 ** min(attempts - 1, 20), RETRY_LONGEST)


def recipient_language(recipient: User) -> str:
    """Return the language a message to this person is written in."""
    known = {code for code, _name in settings.LANGUAGES}
    return recipient.language if recipient.language in known else settings.LANGUAGE_CODE


def message_send(
    *,
    recipient: User,
    subject: str,
    body: str,
    language: str | None = None,
    key: str | None = None,
) -> Message:
    """Write a message to `recipient` in the outbox; the worker e-mails it once the caller's
    transaction commits (never if it rolls back). Return the message.

    Write `subject` and `body` in the recipient's language (`recipient_language`). With `key`,
    a message already written under that key is returned instead of a second one: a writer run
    twice (a digest after a restart) sends once. A person without an e-mail address still sees
    the message in Carnet.
    """
    from carnet.messaging.tasks import message_deliver

    if key is not None:
        existing = Message.objects.filter(key=key).first()
        if existing is not None:
            return existing
    now = utc_now()
    address = (recipient.email or "").strip()
    message = Message(
        recipient=recipient,
        address=address,
        subject=" ".join(subject.split())[:SUBJECT_LENGTH],
        body=body,
        language=language or recipient_language(recipient),
        created_at=now,
        next_attempt_at=now if address else None,
        key=key,
    )
    try:
        with transaction.atomic():
            message.save()
    except IntegrityError:
        # The same key written at the same moment by another process: that message stands.
        if key is None:
            raise
        return Message.objects.get(key=key)
    if address:
        enqueue_after_commit(message_deliver, message.pk)
    return message


def _claimed(message: Message, now: datetime) -> bool:
    """Count one more attempt on the message, unless someone else counted it first.

    The next attempt is set now, before sending: a worker that dies while the mail server
    answers leaves a message that is tried again later, not one that waits forever.
    """
    attempts = message.attempts + 1
    changed = Message.objects.filter(
        pk=message.pk, sent_at__isnull=True, attempts=message.attempts
    ).update(attempts=attempts, next_attempt_at=now + retry_delay(attempts))
    message.attempts = attempts
    message.next_attempt_at = now + retry_delay(attempts)
    return bool(changed)


def message_deliver_now(*, message_id: int, resume: bool = False) -> str:
    """E-mail one message of the outbox if it is due; return what happened, in a few words.

    `resume`: the task that claimed it before was interrupted (its worker died) and runs again;
    it may send before the retry time its earlier claim set. Sending is outside any transaction
    (a slow mail server must not hold the database); a message can go out twice only if the
    worker dies between the server's acceptance and the recording of it.
    """
    message = Message.objects.filter(pk=message_id).first()
    if message is None:
        return "gone"  # its transaction was rolled back after the task was enqueued elsewhere
    if message.sent_at is not None:
        return "already sent"
    if message.next_attempt_at is None:
        return "not e-mailed (no address)"
    now = utc_now()
    if message.next_attempt_at > now and not resume:
        return f"not due before {message.next_attempt_at:%Y-%m-%d %H:%M:%S}"
    if not _claimed(message, now):
        return "taken by another worker"
    try:
        EmailMessage(
            subject=message.subject,
            body=message.body,
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[message.address],
        ).send()
    except Exception as error:  # the mail server's every failure is a reason to try again
        detail = f"{type(error).__name__}: {error}"[:1000]
        Message.objects.filter(pk=message.pk).update(last_error=detail)
        logger.warning("Message %s not sent (attempt %s): %s", message.pk, message.attempts, detail)
        return f"failed, next attempt at {message.next_attempt_at:%Y-%m-%d %H:%M:%S}"
    Message.objects.filter(pk=message.pk).update(
        sent_at=utc_now(), next_attempt_at=None, last_error=""
    )
    return "sent"


def outbox_due(*, now: datetime | None = None, limit: int = 100) -> list[int]:
    """Return the messages whose (next) attempt is due, oldest first."""
    now = now or utc_now()
    return list(
        Message.objects.filter(sent_at__isnull=True, next_attempt_at__lte=now)
        .order_by("next_attempt_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )
