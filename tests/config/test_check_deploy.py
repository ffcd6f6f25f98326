"""`carnet check-deploy`: Django's deployment checks on the production profile."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from tests.config.test_bad_configuration import assert_one_sentence, carnet

pytestmark = pytest.mark.slow


def test_the_production_profile_passes_the_deployment_checks(tmp_path: Path) -> None:
    result = carnet("check-deploy", CARNET_DATA_DIR=str(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_it_fails_when_debug_is_on(tmp_path: Path) -> None:
    result = carnet("check-deploy", CARNET_DATA_DIR=str(tmp_path), CARNET_DEBUG="1")
    assert result.returncode != 0
    assert "security.W018" in result.stderr


def test_it_fails_with_a_weak_secret_key(tmp_path: Path) -> None:
    result = carnet("check-deploy", CARNET_DATA_DIR=str(tmp_path), SECRET_KEY="short")
    assert result.returncode != 0
    assert "security.W009" in result.stderr


def test_a_secret_key_is_generated_once_and_kept(tmp_path: Path) -> None:
    carnet("check", CARNET_DATA_DIR=str(tmp_path))
    key = (tmp_path / "secret_key").read_text()
    carnet("check", CARNET_DATA_DIR=str(tmp_path))
    assert (tmp_path / "secret_key").read_text() == key
    assert len(key.strip()) >= 50
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_production_cookies_are_secure_and_https_is_enforced() -> None:
    # The suite runs on the test profile; the production module is read as it stands.
    module = importlib.import_module("carnet.config.settings.production")
    assert module.SESSION_COOKIE_SECURE
    assert module.CSRF_COOKIE_SECURE
    assert module.SESSION_COOKIE_HTTPONLY
    assert module.SECURE_SSL_REDIRECT
    assert module.SECURE_HSTS_SECONDS >= 31536000


def test_ssl_redirect_off_passes_behind_a_declared_proxy(tmp_path: Path) -> None:
    # docs/deployment.md: a proxy that already redirects HTTP to HTTPS may do it alone.
    result = carnet(
        "check-deploy",
        CARNET_DATA_DIR=str(tmp_path),
        CARNET_SSL_REDIRECT="0",
        CARNET_TRUSTED_PROXIES="10.0.0.5",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_ssl_redirect_off_fails_when_no_proxy_is_declared(tmp_path: Path) -> None:
    result = carnet("check-deploy", CARNET_DATA_DIR=str(tmp_path), CARNET_SSL_REDIRECT="0")
    assert result.returncode != 0
    assert "security.W008" in result.stderr


def test_any_host_is_a_warning_that_fails_the_deployment_checks(tmp_path: Path) -> None:
    result = carnet("check-deploy", CARNET_DATA_DIR=str(tmp_path), CARNET_ALLOWED_HOSTS="*")
    assert result.returncode != 0
    assert "carnet.W001" in result.stderr
    assert "CARNET_ALLOWED_HOSTS" in result.stderr


def test_a_malformed_proxy_address_is_one_clear_sentence(tmp_path: Path) -> None:
    result = carnet("check", CARNET_DATA_DIR=str(tmp_path), CARNET_TRUSTED_PROXIES="proxy.local")
    assert_one_sentence(result, "CARNET_TRUSTED_PROXIES", "'proxy.local'")
