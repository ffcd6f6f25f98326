"""E-mail settings from the environment: printed without an SMTP server, sent by SMTP with one,
and a setting that cannot work is refused with one sentence."""

from __future__ import annotations

import pytest

from carnet.config import environment
from carnet.core.errors import ConfigurationError


@pytest.fixture(autouse=True)
def no_email_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "CARNET_EMAIL_HOST",
        "CARNET_EMAIL_SECURITY",
        "CARNET_EMAIL_PORT",
        "CARNET_EMAIL_BACKEND",
        "CARNET_EMAIL_FROM",
        "CARNET_SITE_URL",
    ):
        monkeypatch.delenv(name, raising=False)


def test_without_a_mail_server_messages_are_printed() -> None:
    assert environment.email()["EMAIL_BACKEND"] == "django.core.mail.backends.console.EmailBackend"


def test_a_mail_server_sends_by_smtp_with_starttls_on_587(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARNET_EMAIL_HOST", "smtp.chu.example.org")
    monkeypatch.setenv("CARNET_EMAIL_FROM", "Carnet ICM <carnet@icm.example.org>")
    email = environment.email()
    assert email["EMAIL_BACKEND"] == "django.core.mail.backends.smtp.EmailBackend"
    assert (email["EMAIL_HOST"], email["EMAIL_PORT"]) == ("smtp.chu.example.org", 587)
    assert (email["EMAIL_USE_TLS"], email["EMAIL_USE_SSL"]) == (True, False)
    assert email["DEFAULT_FROM_EMAIL"] == "Carnet ICM <carnet@icm.example.org>"


def test_tls_from_the_start_uses_465(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARNET_EMAIL_HOST", "smtp.chu.example.org")
    monkeypatch.setenv("CARNET_EMAIL_SECURITY", "tls")
    email = environment.email()
    assert (email["EMAIL_PORT"], email["EMAIL_USE_TLS"], email["EMAIL_USE_SSL"]) == (
        465,
        False,
        True,
    )


def test_an_unknown_security_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARNET_EMAIL_SECURITY", "ssl3")
    with pytest.raises(ConfigurationError, match="CARNET_EMAIL_SECURITY='ssl3' must be one of"):
        environment.email()


def test_the_site_address_must_be_an_http_address(monkeypatch: pytest.MonkeyPatch) -> None:
    assert environment.site_url() == "http://127.0.0.1:8000"
    monkeypatch.setenv("CARNET_SITE_URL", "https://carnet.example.org/")
    assert environment.site_url() == "https://carnet.example.org"
    monkeypatch.setenv("CARNET_SITE_URL", "carnet.example.org")
    with pytest.raises(ConfigurationError, match="CARNET_SITE_URL"):
        environment.site_url()
