"""The `test` profile: the suite on SQLite (default) or PostgreSQL (DATABASE_URL)."""

import os

# Each test process keeps its files (SQLite test database, uploads, exports, archives) in its own
# folder, apart from `make run`'s and from the other pytest-xdist workers': two workers whose test
# databases both hold export run 1 would otherwise write the same file at once. A worker inherits
# the environment of the process that started it, so the folder is chosen again in each process
# unless CARNET_DATA_DIR was set from outside. tests/conftest.py removes it when the process ends.
if os.environ.get("CARNET_TEST_DATA_DIR_CHOSEN") or "CARNET_DATA_DIR" not in os.environ:
    os.environ["CARNET_DATA_DIR"] = f"var/test/{os.getpid()}"
    os.environ["CARNET_TEST_DATA_DIR_CHOSEN"] = "1"

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
else:
    # A live server's request thread closes its connection after each request, as it would
    # after CONN_MAX_AGE: a client that keeps HTTP alive (PyCap's session, a browser) would
    # otherwise keep a session on the test database, and PostgreSQL refuses to drop a database
    # in use: it was left behind at the end of the run.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
