"""Reads of messages: a person sees their own, and nobody else's."""

from __future__ import annotations

from django.core.paginator import Page, Paginator

from carnet.accounts.models import User
from carnet.messaging.models import Message

MESSAGES_PER_PAGE = 25


def messages_received(actor: User, *, page: int | str | None = 1) -> Page[Message]:
    """Return one page of the messages written to `actor`, the newest first."""
    messages = Message.objects.filter(recipient=actor).order_by("-created_at", "-id")
    return Paginator(messages, MESSAGES_PER_PAGE).get_page(page)


def message_written(key: str) -> bool:
    """Return whether a message was already written under `key` (see `message_send`)."""
    return Message.objects.filter(key=key).exists()
