"""The outbox: every message to a person, whether or not it has gone out by e-mail yet."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class Message(models.Model):
    """One message to one person: what it said, to which address, and when it went out.

    The row is written in the transaction that causes the message, so a rollback takes it back
    and a commit keeps it whatever happens to the mail server; the worker sends it and records
    the sending (or the error, and when it tries again).
    """

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="messages"
    )
    # The address when the message was written: a later change of address does not rewrite
    # where a message went.
    address = models.CharField(max_length=254, blank=True)
    subject = models.CharField(max_length=200)
    body = models.TextField()
    language = models.CharField(max_length=8)
    created_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    # When the worker tries (again); empty when it will not (sent, or no address to send to).
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    # What makes the message unique, for the writers that may run twice (a digest of a given
    # day): a second message with the same key is not written.
    key = models.CharField(max_length=200, null=True, blank=True, unique=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["recipient", "-created_at"], name="message_recipient_idx"),
            # The outbox: what waits to be sent, soonest first.
            models.Index(
                fields=["next_attempt_at"],
                name="message_outbox_idx",
                condition=Q(sent_at__isnull=True, next_attempt_at__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.subject} → {self.recipient_id}"
