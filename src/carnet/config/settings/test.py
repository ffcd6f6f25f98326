"""The `test` profile: the suite on SQLite (default) or PostgreSQL (DATABASE_URL)."""

import os

# The suite keeps its files (SQLite test database, uploads, backups) apart from `make run`'s.
os.environ.setdefault("CARNET_DATA_DIR", "var/test")

from carnet.config.settings.base import *  # noqa: F403
from carnet.config.settings.base import DATA_DIR, DATABASES

DEBUG = False
WHITENOISE_USE_FINDERS = True
# Hashing with argon2 at full cost makes the suite slow without testing anything more.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file rather than SQLite's in-memory default, so that tests with threads and
    # subprocesses (concurrent writers, backups) share one database, as in production.
    # One file per test process, so two runs at once (two terminals, parallel CI jobs) never
    # share a test database.
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / f"test-carnet-{os.getpid()}.sqlite3")}
