"""The front page in English and French, and the health check."""

from __future__ import annotations

import subprocess
import sys

import pytest
from django.test import Client

from tests.conftest import REPOSITORY

pytestmark = pytest.mark.django_db


def test_the_front_page_speaks_the_browsers_language(client: Client) -> None:
    english = client.get("/", headers={"accept-language": "en"})
    french = client.get("/", headers={"accept-language": "fr-FR,fr;q=0.9"})
    assert "Clinical research data, in one place" in english.text
    assert '<html lang="fr">' in french.text
    assert "Les données de la recherche clinique, en un seul lieu" in french.text
    assert "Se connecter" in french.text


def test_the_language_switch_is_remembered(client: Client) -> None:
    client.get("/")
    switched = client.post("/i18n/setlang/", {"language": "fr", "next": "/"})
    assert switched.status_code == 302
    assert "Se connecter" in client.get("/").text


def test_the_health_check_answers_when_the_database_does(client: Client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert "no-cache" in response["Cache-Control"]


def test_pages_forbid_framing_and_sniffing(client: Client) -> None:
    response = client.get("/")
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"


def test_the_french_catalog_is_complete_and_compiled() -> None:
    result = subprocess.run(
        [sys.executable, str(REPOSITORY / "scripts" / "messages.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
