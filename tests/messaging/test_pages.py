"""My messages: a person reads their own messages, in their language, a page at a time, and
nobody else's."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.test import Client
from django.urls import reverse

from carnet.accounts.models import User
from carnet.messaging.models import Message
from carnet.messaging.selectors import MESSAGES_PER_PAGE
from carnet.messaging.services import message_send
from tests.accounts.personas import person

pytestmark = pytest.mark.django_db


def signed_in(client: Client, username: str, *, language: str = "") -> User:
    """Return a new person with an e-mail address, signed in on `client`."""
    user = person(username)
    user.language = language
    user.email = f"{username}@icm.example.org"
    user.save(update_fields=["language", "email"])
    client.force_login(user)
    return user


def test_a_person_sees_their_own_messages_and_nobody_elses(client: Client) -> None:
    alice = signed_in(client, "alice")
    bob = person("bob")
    message_send(recipient=alice, subject="Query on 01-003", body="Weight at cycle 2?")
    message_send(recipient=bob, subject="Bob's own news", body="Not for Alice.")

    page = client.get(reverse("messaging:messages"))

    assert page.status_code == 200
    text = page.content.decode()
    assert "Query on 01-003" in text
    assert "Weight at cycle 2?" in text
    assert "Bob&#x27;s own news" not in text
    assert "Bob's own news" not in text
    assert "waiting to be sent by e-mail" in text


def test_the_page_says_where_and_when_a_message_went_out(client: Client) -> None:
    alice = signed_in(client, "alice")
    message = message_send(recipient=alice, subject="Digest", body="Two visits overdue.")
    Message.objects.filter(pk=message.pk).update(
        sent_at=datetime(2025, 6, 16, 12, 5, tzinfo=UTC), attempts=1, next_attempt_at=None
    )
    text = client.get(reverse("messaging:messages")).content.decode()
    assert "sent by e-mail to alice@icm.example.org at 2025-06-16 12:05 UTC" in text


def test_the_page_speaks_french_to_a_french_speaker(client: Client) -> None:
    signed_in(client, "claire", language="fr")
    text = client.get(reverse("messaging:messages")).content.decode()
    assert "Mes messages" in text
    assert "Aucun message pour l'instant." in text


def test_the_messages_come_a_page_at_a_time_the_newest_first(client: Client) -> None:
    alice = signed_in(client, "alice")
    for number in range(MESSAGES_PER_PAGE + 2):
        message_send(recipient=alice, subject=f"Message number {number:02d}", body=".")
    first = client.get(reverse("messaging:messages")).content.decode()
    assert f"Message number {MESSAGES_PER_PAGE + 1:02d}" in first
    assert "Message number 01" not in first
    assert f"Page 1 of 2 · {MESSAGES_PER_PAGE + 2} in all" in first
    second = client.get(reverse("messaging:messages") + "?page=2").content.decode()
    assert "Message number 00" in second
    assert "Message number 01" in second
    assert f"Message number {MESSAGES_PER_PAGE + 1:02d}" not in second


def test_the_account_menu_links_to_the_messages(client: Client) -> None:
    signed_in(client, "alice")
    text = client.get(reverse("messaging:messages")).content.decode()
    assert f'<a href="{reverse("messaging:messages")}">My messages</a>' in text


def test_someone_signed_out_is_sent_to_sign_in(client: Client) -> None:
    answer = client.get(reverse("messaging:messages"))
    assert answer.status_code == 302
    assert answer["Location"].startswith("/login/")
