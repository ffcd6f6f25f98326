"""Sessions: idle expiry that polling does not extend, seeing and ending one's sessions."""

from __future__ import annotations

import pytest
import time_machine
from django.contrib.sessions.models import Session
from django.test import Client

from carnet.accounts.models import UserSession
from carnet.audit.services import SystemActor
from carnet.core.clock import utc_now
from carnet.runtime_settings.services import system_setting_change
from tests.accounts.personas import person
from tests.web.helpers import PASSWORD, sign_in

pytestmark = pytest.mark.django_db


def later(minutes: float) -> time_machine.travel:
    return time_machine.travel(utc_now().timestamp() + minutes * 60, tick=False)


def test_a_session_ends_after_thirty_idle_minutes(client: Client) -> None:
    person("alma")
    with later(0):
        sign_in(client, "alma")
    with later(29):
        assert client.get("/account/").status_code == 200
    with later(29 + 31):
        response = client.get("/account/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")
    assert UserSession.objects.get().end_reason == "idle"


def test_background_polling_does_not_keep_a_session_alive(client: Client) -> None:
    person("basile")
    with later(0):
        sign_in(client, "basile")
    for minute in (10, 20, 30):
        with later(minute - 0.5):
            assert client.get("/healthz", headers={"x-carnet-background": "1"}).status_code == 200
    with later(31):
        assert client.get("/account/").status_code == 302


def test_the_idle_time_follows_the_setting(client: Client) -> None:
    system_setting_change(
        actor=SystemActor(label="t"), key="session_idle_minutes", value=10, reason="policy"
    )
    person("cyril")
    with later(0):
        sign_in(client, "cyril")
    with later(11):
        assert client.get("/account/").status_code == 302


def test_a_person_sees_their_sessions_and_ends_the_others() -> None:
    person("diane")
    first, second = Client(), Client()
    sign_in(first, "diane")
    sign_in(second, "diane")
    page = first.get("/account/").content.decode()
    assert page.count("<tr><td>") >= 2
    first.post("/account/sessions/end-others/")
    assert first.get("/account/").status_code == 200
    assert second.get("/account/").status_code == 302
    assert UserSession.objects.filter(ended_at__isnull=True).count() == 1


def test_a_password_change_ends_the_other_sessions() -> None:
    person("elsa")
    first, second = Client(), Client()
    sign_in(first, "elsa")
    sign_in(second, "elsa")
    changed = first.post(
        "/account/password/",
        {
            "current": PASSWORD,
            "new": "another long password 2026",
            "again": "another long password 2026",
        },
    )
    assert changed.status_code == 302
    assert first.get("/account/").status_code == 200
    assert second.get("/account/").status_code == 302
    assert sign_in(Client(), "elsa", "another long password 2026") == 302


@pytest.mark.parametrize(
    ("new", "message"),
    [("short", "too short"), ("password1234", "too common"), ("elsa.dupont.2026", "too similar")],
)
def test_weak_new_passwords_are_refused(client: Client, new: str, message: str) -> None:
    user = person("elsa.dupont")
    sign_in(client, user.username)
    response = client.post("/account/password/", {"current": PASSWORD, "new": new, "again": new})
    assert response.status_code == 400
    assert message in response.content.decode()


def test_after_a_password_change_the_session_stays_listed_and_can_be_ended_from_another() -> None:
    person("fabien")
    first = Client()
    sign_in(first, "fabien")
    first.post(
        "/account/password/",
        {
            "current": PASSWORD,
            "new": "another long password 2026",
            "again": "another long password 2026",
        },
    )
    live = UserSession.objects.get(ended_at__isnull=True)
    assert live.session_key == first.cookies["sessionid"].value
    assert first.get("/account/").context["current_session"] == live.session_key
    second = Client()
    sign_in(second, "fabien", "another long password 2026")
    second.post("/account/sessions/end-others/")
    assert first.get("/account/").status_code == 302
    assert second.get("/account/").status_code == 200


def test_an_anonymous_visit_to_the_sign_in_page_stores_no_session() -> None:
    response = Client().get("/login/?next=/account/")
    assert response.status_code == 200
    assert "sessionid" not in response.cookies
    assert Session.objects.count() == 0


def test_the_next_page_survives_the_sign_in_without_a_stored_session() -> None:
    person("gael")
    client = Client()
    page = client.get("/login/?next=/account/").content.decode()
    assert 'value="/account/"' in page
    response = client.post(
        "/login/", {"username": "gael", "password": PASSWORD, "next": "/account/"}
    )
    assert response["Location"] == "/account/"
    outside = client.post(
        "/login/", {"username": "gael", "password": PASSWORD, "next": "https://evil.example/"}
    )
    assert outside["Location"] == "/"


def test_signed_in_pages_and_api_answers_are_never_stored_by_a_cache() -> None:
    person("hector")
    client = Client()
    sign_in(client, "hector")
    for path in ("/", "/account/", "/api/me", "/api/my/studies"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert "no-store" in response["Cache-Control"], path
    # Refusals and API errors too, signed in or not.
    assert "no-store" in client.get("/api/studies/NOPE")["Cache-Control"]
    assert "no-store" in Client().get("/api/me")["Cache-Control"]


def test_static_files_stay_cacheable() -> None:
    response = Client().get("/static/web/carnet.css")
    assert "no-store" not in response.get("Cache-Control", "")
