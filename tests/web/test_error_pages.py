"""Error pages: in the layout and the person's language, never Django's bare English pages."""

from __future__ import annotations

import pytest
from axes.models import AccessAttempt
from django.core.exceptions import PermissionDenied
from django.test import Client, RequestFactory
from django.utils import translation
from django.views.defaults import permission_denied, server_error

from tests.accounts.personas import person
from tests.web.helpers import sign_in

pytestmark = pytest.mark.django_db


def test_an_unknown_address_shows_the_not_found_page(client: Client) -> None:
    response = client.get("/no/such/page/")
    assert response.status_code == 404
    html = response.content.decode()
    assert "<h1>Page not found</h1>" in html
    assert 'href="/">Back to the home page</a>' in html
    assert "The requested resource was not found" not in html  # Django's bare page


def test_the_not_found_page_speaks_the_language_chosen(client: Client) -> None:
    client.post("/language/", {"language": "fr", "next": "/"})
    html = client.get("/no/such/page/").content.decode()
    assert "<h1>Page introuvable</h1>" in html
    assert '<html lang="fr">' in html


def test_a_form_sent_from_an_expired_page_explains_and_saves_nothing() -> None:
    person("hugo")
    browser = Client(enforce_csrf_checks=True)
    response = browser.post("/login/", {"username": "hugo", "password": "x"})  # no CSRF token
    assert response.status_code == 403
    html = response.content.decode()
    assert "<h1>This page has expired</h1>" in html
    assert "Nothing was saved" in html
    assert "CSRF verification failed" not in html
    # Refused before anything ran: the password was not even tried.
    assert not AccessAttempt.objects.exists()
    assert sign_in(Client(), "hugo", "wrong") == 400  # a real failure is counted
    assert AccessAttempt.objects.get().failures_since_start == 1


def test_a_refusal_shows_the_not_allowed_page_in_french() -> None:
    request = RequestFactory().get("/somewhere/")
    with translation.override("fr"):
        response = permission_denied(request, PermissionDenied())
    assert response.status_code == 403
    assert "<h1>Action non autorisée</h1>" in response.content.decode()


@pytest.mark.parametrize(
    ("language", "heading", "promise"),
    [
        ("en", "Something went wrong", "every save is all or nothing"),
        ("fr", "Une erreur est survenue", "en entier ou pas du tout"),
    ],
)
def test_an_unexpected_error_says_what_was_and_was_not_saved(
    language: str, heading: str, promise: str
) -> None:
    with translation.override(language):
        response = server_error(RequestFactory().get("/"))
    assert response.status_code == 500
    html = response.content.decode()
    assert f"<h1>{heading}</h1>" in html
    assert promise in html
