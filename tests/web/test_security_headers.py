"""Security a browser enforces: CSP without inline scripts, framing, referrer, CSRF, cookies."""

from __future__ import annotations

import importlib
import re

import pytest
from django.test import Client

from carnet.accounts.roles import Role
from tests.accounts.personas import person
from tests.web.helpers import administrator_client, sign_in
from tests.web.test_page_matrix import world_with_a_subject

pytestmark = pytest.mark.django_db

PAGES = [
    "/",
    "/account/",
    "/account/two-factor/",
    "/studies/MINI/",
    "/studies/MINI/versions/1/",
    "/administration/",
    "/administration/centres/",
    "/administration/studies/",
    "/administration/studies/MINI/sites/",
    "/administration/studies/MINI/memberships/",
    "/administration/users/",
    "/administration/tokens/",
    "/administration/lockouts/",
]
# Clinical pages: a system administrator sees none of them, an investigator at site A does.
SUBJECT_PAGES = [
    "/studies/MINI/subjects/",
    "/studies/MINI/subjects/new/",
    "/studies/MINI/subjects/01-001/",
    "/studies/MINI/subjects/01-001/identity/",
    "/studies/MINI/screening-log/",
    "/studies/MINI/overdue/",
    "/studies/MINI/follow-up-campaign/",
]


def clients_and_pages() -> list[tuple[Client, list[str]]]:
    """Return an administrator with the shell's pages, an investigator with the subjects'."""
    w = world_with_a_subject()
    person("ines", study=w.study, role=Role.INVESTIGATOR, sites=[w.site_a])
    investigator = Client()
    sign_in(investigator, "ines")
    return [(administrator_client(), [*PAGES, "/login/"]), (investigator, SUBJECT_PAGES)]


def test_every_page_has_a_strict_policy_and_no_inline_script() -> None:
    for client, pages in clients_and_pages():
        for page in pages:
            check_page(client, page)


def check_page(client: Client, page: str) -> None:
    response = client.get(page)
    assert response.status_code == 200, page
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"
    html = response.content.decode()
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S)
    assert all("src=" in attributes and not body.strip() for attributes, body in scripts), page
    assert " style=" not in html, page
    assert " onclick=" not in html.lower(), page


def test_every_form_that_posts_carries_a_csrf_token() -> None:
    for client, pages in clients_and_pages():
        for page in pages:
            html = client.get(page).content.decode()
            for form in re.findall(r"<form[^>]*method=\"post\"[^>]*>(.*?)</form>", html, re.S):
                assert "csrfmiddlewaretoken" in form, page


def test_a_post_without_the_csrf_token_is_refused() -> None:
    person("zoe")
    client = Client(enforce_csrf_checks=True)
    response = client.post("/login/", {"username": "zoe", "password": "a long test password"})
    assert response.status_code == 403


def test_production_cookies_are_secure_httponly_and_same_site() -> None:
    production = importlib.import_module("carnet.config.settings.production")
    assert production.SESSION_COOKIE_SECURE
    assert production.SESSION_COOKIE_HTTPONLY
    assert production.SESSION_COOKIE_SAMESITE == "Lax"
    assert production.CSRF_COOKIE_SECURE
    assert production.CSRF_COOKIE_SAMESITE == "Lax"
    assert production.LANGUAGE_COOKIE_HTTPONLY


def test_the_session_cookie_is_httponly(client: Client) -> None:
    person("yann")
    sign_in(client, "yann")
    cookie = client.cookies["sessionid"]
    assert cookie["httponly"]
    assert cookie["samesite"] == "Lax"
