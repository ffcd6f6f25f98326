"""Read Carnet's configuration from the environment and check it before Django starts.

Every problem becomes one ConfigurationError sentence; `carnet` prints it and exits non-zero
instead of showing a traceback. Settings modules call these functions, so the web server, the
worker and the command line read the environment the same way.
"""

import ipaddress
import os
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import dj_database_url

from carnet.core.errors import ConfigurationError

DEFAULT_DATA_DIR = "var"
SECRET_KEY_FILE = "secret_key"  # noqa: S105 (a file name, not a secret)
SQLITE_FILE = "carnet.sqlite3"
# Concurrent writers wait this long for SQLite's write lock before giving up.
SQLITE_BUSY_TIMEOUT_SECONDS = 30


def data_dir() -> Path:
    """Return the data directory (database, keys, uploads, backups), created and writable."""
    path = Path(os.environ.get("CARNET_DATA_DIR") or DEFAULT_DATA_DIR).expanduser().resolve()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ConfigurationError(
            f"The data directory {path} cannot be created ({error.strerror}); "
            "set CARNET_DATA_DIR to a directory Carnet may write to."
        ) from error
    probe = path / f".write-test-{os.getpid()}"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        raise ConfigurationError(
            f"The data directory {path} is not writable ({error.strerror}); "
            "set CARNET_DATA_DIR to a directory Carnet may write to."
        ) from error
    return path


def secret_key(directory: Path) -> str:
    """Return SECRET_KEY from the environment, or the one generated once in the data directory."""
    from_environment = os.environ.get("SECRET_KEY")
    if from_environment:
        return from_environment
    key_file = directory / SECRET_KEY_FILE
    if not key_file.exists():
        # 'x' mode: two processes starting at once cannot both write a different key.
        try:
            with open(key_file, "x", encoding="ascii") as handle:
                handle.write(secrets.token_urlsafe(64))
            key_file.chmod(0o600)
        except FileExistsError:
            pass
    key = key_file.read_text(encoding="ascii").strip()
    if not key:
        raise ConfigurationError(
            f"The secret key file {key_file} is empty; delete it to regenerate."
        )
    return key


def database_url(directory: Path) -> str:
    """Return DATABASE_URL, defaulting to an SQLite file in the data directory."""
    return os.environ.get("DATABASE_URL") or f"sqlite:///{directory / SQLITE_FILE}"


def redacted(url: str) -> str:
    """Return a database URL without its password, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


def database(directory: Path) -> dict[str, Any]:
    """Return Django's DATABASES['default'] for DATABASE_URL."""
    url = database_url(directory)
    scheme = urlsplit(url).scheme
    if scheme not in {"sqlite", "postgres", "postgresql", "pgsql"}:
        raise ConfigurationError(
            f"DATABASE_URL {redacted(url)!r} is not understood: use sqlite:///path/to/file.sqlite3 "
            "or postgres://user:password@host:5432/database."
        )
    try:
        config: dict[str, Any] = dict(dj_database_url.parse(url))
    except (ValueError, KeyError) as error:
        raise ConfigurationError(
            f"DATABASE_URL {redacted(url)!r} is malformed ({error})."
        ) from error
    if config["ENGINE"] == "django.db.backends.sqlite3":
        if not config.get("NAME"):
            raise ConfigurationError(f"DATABASE_URL {redacted(url)!r} names no SQLite file.")
        config["OPTIONS"] = {
            # IMMEDIATE takes the write lock when a transaction starts, so concurrent writers
            # queue on the busy timeout instead of failing with "database is locked".
            "transaction_mode": "IMMEDIATE",
            "timeout": SQLITE_BUSY_TIMEOUT_SECONDS,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
            " PRAGMA foreign_keys=ON;",
        }
    else:
        if not config.get("NAME"):
            raise ConfigurationError(f"DATABASE_URL {redacted(url)!r} names no database.")
        config["CONN_MAX_AGE"] = int(os.environ.get("CARNET_DB_CONN_MAX_AGE", "60"))
        config["CONN_HEALTH_CHECKS"] = True
        config.setdefault("OPTIONS", {})["connect_timeout"] = 5
    return config


def flag(name: str, *, default: bool = False) -> bool:
    """Return a yes/no environment variable; anything unexpected is an error, not a guess."""
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ConfigurationError(f"{name}={raw!r} must be one of 1/0, true/false, yes/no, on/off.")


def word_list(name: str, *, default: list[str]) -> list[str]:
    """Return a comma-separated environment variable as a list."""
    raw = os.environ.get(name)
    if not raw:
        return default
    return [part.strip() for part in raw.split(",") if part.strip()]


def trusted_proxies() -> list[str]:
    """Return CARNET_TRUSTED_PROXIES: the addresses or networks of the reverse proxies in front
    of Carnet, whose X-Forwarded-For is believed (empty: no proxy declared)."""
    networks = []
    for part in word_list("CARNET_TRUSTED_PROXIES", default=[]):
        try:
            networks.append(str(ipaddress.ip_network(part, strict=False)))
        except ValueError as error:
            raise ConfigurationError(
                f"CARNET_TRUSTED_PROXIES: {part!r} is not an address or a network "
                "(e.g. 10.0.0.5 or 10.0.0.0/24)."
            ) from error
    return networks


def positive_integer(name: str, *, default: int) -> int:
    """Return a whole-number environment variable, at least 1."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        value = 0
    if value < 1:
        raise ConfigurationError(f"{name}={raw!r} must be a whole number of at least 1.")
    return value


EMAIL_SECURITY = ("starttls", "tls", "none")


def email() -> dict[str, Any]:
    """Return Django's e-mail settings: SMTP when CARNET_EMAIL_HOST is set, otherwise the console
    (each message printed by the worker that sends it), or CARNET_EMAIL_BACKEND's own."""
    host = os.environ.get("CARNET_EMAIL_HOST", "").strip()
    security = os.environ.get("CARNET_EMAIL_SECURITY", "starttls").strip().lower() or "starttls"
    if security not in EMAIL_SECURITY:
        raise ConfigurationError(
            f"CARNET_EMAIL_SECURITY={security!r} must be one of {', '.join(EMAIL_SECURITY)}."
        )
    backend = os.environ.get("CARNET_EMAIL_BACKEND", "").strip()
    if not backend:
        backend = (
            "django.core.mail.backends.smtp.EmailBackend"
            if host
            else "django.core.mail.backends.console.EmailBackend"
        )
    return {
        "EMAIL_BACKEND": backend,
        "EMAIL_HOST": host or "localhost",
        "EMAIL_PORT": positive_integer(
            "CARNET_EMAIL_PORT", default=465 if security == "tls" else 587
        ),
        "EMAIL_HOST_USER": os.environ.get("CARNET_EMAIL_USER", ""),
        "EMAIL_HOST_PASSWORD": os.environ.get("CARNET_EMAIL_PASSWORD", ""),
        "EMAIL_USE_TLS": security == "starttls",
        "EMAIL_USE_SSL": security == "tls",
        "EMAIL_TIMEOUT": positive_integer("CARNET_EMAIL_TIMEOUT", default=30),
        "DEFAULT_FROM_EMAIL": os.environ.get("CARNET_EMAIL_FROM", "").strip()
        or "Carnet <carnet@localhost>",
    }


def site_url() -> str:
    """Return CARNET_SITE_URL, the address people open Carnet at (links in e-mails)."""
    raw = os.environ.get("CARNET_SITE_URL", "").strip() or "http://127.0.0.1:8000"
    parts = urlsplit(raw)
    if parts.scheme not in {"http", "https"} or not parts.netloc or parts.query:
        raise ConfigurationError(
            f"CARNET_SITE_URL={raw!r} must be an address such as https://carnet.example.org."
        )
    return raw.rstrip("/")
