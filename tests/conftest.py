"""Fixtures shared by the whole suite: actors, the database vendor, and fresh installations."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.utils import translation
from hypothesis import settings as hypothesis_settings

from carnet.audit.services import SystemActor
from carnet.config.environment import SQLITE_FILE

REPOSITORY = Path(__file__).resolve().parent.parent

# Properties are checked, not timed: Hypothesis's 200 ms deadline per example failed
# tests/randomization/test_minimisation.py on a loaded machine. Speed is the benchmarks' work.
hypothesis_settings.register_profile("carnet", deadline=None)
hypothesis_settings.load_profile("carnet")


def database_vendor() -> str:
    engine = settings.DATABASES["default"]["ENGINE"]
    return "sqlite" if engine.endswith("sqlite3") else "postgresql"


postgres_only = pytest.mark.skipif(
    database_vendor() != "postgresql", reason="needs DATABASE_URL=postgres://…"
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the slow tests first (stable order otherwise).

    `make test` spreads the suite over the cores (pytest-xdist): a slow test handed out last
    would leave one core working alone at the end, so the longest work is handed out first.
    """
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture(autouse=True)
def default_language() -> Iterator[None]:
    """Give every test the default language, and take back whatever a request left active.

    A page request activates the person's language and leaves it active in the thread: after a
    French page, services called directly would refuse in French in the next test."""
    with translation.override(settings.LANGUAGE_CODE):
        yield


def pytest_unconfigure(config: pytest.Config) -> None:
    """Remove this test process's data folder (settings/test.py: var/test/<pid>) at the end."""
    folder = Path(settings.DATA_DIR).resolve()
    if folder.name == str(os.getpid()) and folder.parent.name == "test":
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session", autouse=True)
def flush_past_the_audit_triggers() -> Iterator[None]:
    """Let the test runner empty the tables after a transactional test on PostgreSQL.

    Django flushes with TRUNCATE, which the audit tables refuse by trigger. The runner connects
    as a superuser, which may set the triggers aside for its own transaction (replica mode):
    Carnet's role in production may not.
    """
    if database_vendor() != "postgresql":
        yield
        return
    from django.db.backends.postgresql.operations import DatabaseOperations

    original = DatabaseOperations.sql_flush

    def sql_flush(self, style, tables, *, reset_sequences=False, allow_cascade=False):  # type: ignore[no-untyped-def]
        statements = original(
            self, style, tables, reset_sequences=reset_sequences, allow_cascade=allow_cascade
        )
        # execute_sql_flush runs the statements in one transaction: SET LOCAL ends with it.
        return ["SET LOCAL session_replication_role = replica", *statements] if statements else []

    DatabaseOperations.sql_flush = sql_flush  # type: ignore[method-assign]
    yield
    DatabaseOperations.sql_flush = original  # type: ignore[method-assign]


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup: None) -> None:
    """The test databases, dropped at the end of the run even with a session left on them.

    PostgreSQL refuses to drop a database someone is connected to ("being accessed by other
    users"), and the database was then left behind with a warning. A live server's request
    thread no longer keeps its connection (settings/test.py); a session opened by a worker
    early in the run was still seen left over. `DROP DATABASE … WITH (FORCE)` (PostgreSQL 13)
    ends such sessions as it drops. It runs from a connection to the `postgres` database, never
    from one of the sessions it ends.
    """
    if database_vendor() == "postgresql":
        from django.db.backends.postgresql.creation import DatabaseCreation

        def destroy(self: Any, test_database_name: str, verbosity: int) -> None:
            name = self.connection.ops.quote_name(test_database_name)
            with self._nodb_cursor() as cursor:
                cursor.execute(f"DROP DATABASE {name} WITH (FORCE)")

        # Left in place: pytest-django drops the databases after this fixture's end.
        creation: Any = DatabaseCreation
        creation._destroy_test_db = destroy


@pytest.fixture
def system_actor() -> SystemActor:
    return SystemActor(label="pytest")


def carnet_executable() -> str:
    """Return the `carnet` console script of the environment running the tests."""
    candidate = Path(sys.executable).with_name("carnet")
    return str(candidate) if candidate.exists() else "carnet"


@dataclass
class Installation:
    """A Carnet installation of its own (data directory and database) driven by its CLI."""

    data_dir: Path
    environment: dict[str, str]

    def run(
        self, *arguments: str, check: bool = True, timeout: float = 120, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [carnet_executable(), *arguments],
            env=self.environment,
            capture_output=True,
            text=True,
            timeout=timeout,
            input=input,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"carnet {' '.join(arguments)} exited {result.returncode}:\n"
                f"{result.stdout}\n{result.stderr}"
            )
        return result

    def python(self, code: str, *, timeout: float = 120) -> subprocess.Popen[str]:
        """Start a Python process with Django set up on this installation."""
        prelude = "import django; django.setup()\n"
        return subprocess.Popen(
            [sys.executable, "-c", prelude + code],
            env=self.environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )


def _postgres_admin_url() -> str:
    database = settings.DATABASES["default"]
    user = database.get("USER") or "postgres"
    password = f":{database['PASSWORD']}" if database.get("PASSWORD") else ""
    host = database.get("HOST") or "127.0.0.1"
    port = database.get("PORT") or 5432
    return f"postgres://{user}{password}@{host}:{port}"


def _installation_environment(data_dir: Path) -> dict[str, str]:
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("CARNET_", "DJANGO_")) and key != "DATABASE_URL"
    }
    environment["CARNET_DATA_DIR"] = str(data_dir)
    environment["CARNET_PROFILE"] = "local"
    environment["DJANGO_SETTINGS_MODULE"] = "carnet.config.settings.local"
    return environment


@pytest.fixture(scope="session")
def migrated_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Migrate one database per test process, the template of every migrated installation.

    `carnet migrate` in a subprocess costs seconds; the installations of the slow tests start
    from a copy of this one (a file copy on SQLite, CREATE DATABASE … TEMPLATE on PostgreSQL)
    instead of migrating again. Returns the SQLite file or the PostgreSQL database name."""
    data_dir = tmp_path_factory.mktemp("migrated")
    environment = _installation_environment(data_dir)
    database = ""
    if database_vendor() == "postgresql":
        database = f"carnet_it_template_{uuid.uuid4().hex[:12]}"
        _postgres_execute(f'CREATE DATABASE "{database}"')
        environment["DATABASE_URL"] = f"{_postgres_admin_url()}/{database}"
    Installation(data_dir=data_dir, environment=environment).run("migrate", "--no-input")
    yield database or str(data_dir / SQLITE_FILE)
    if database:
        _postgres_execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def installation_new(data_dir: Path, *, template: str | None, databases: list[str]) -> Installation:
    """Create an installation in `data_dir`, migrated when given the `migrated_database` template.

    PostgreSQL databases created are appended to `databases`, for the caller to drop."""
    data_dir.mkdir()
    environment = _installation_environment(data_dir)
    if database_vendor() == "postgresql":
        database = f"carnet_it_{uuid.uuid4().hex[:12]}"
        copy = f' TEMPLATE "{template}"' if template else ""
        _postgres_execute(f'CREATE DATABASE "{database}"{copy}')
        databases.append(database)
        environment["DATABASE_URL"] = f"{_postgres_admin_url()}/{database}"
    elif template:
        shutil.copyfile(template, data_dir / SQLITE_FILE)
    return Installation(data_dir=data_dir, environment=environment)


def installations_drop(databases: list[str]) -> None:
    for database in databases:
        _postgres_execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


@pytest.fixture
def make_installation(
    tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Callable[..., Installation]]:
    """Return a factory of fresh installations on the suite's database engine."""
    databases: list[str] = []

    def factory(name: str = "site", *, migrate: bool = True) -> Installation:
        template = request.getfixturevalue("migrated_database") if migrate else None
        return installation_new(tmp_path / name, template=template, databases=databases)

    yield factory
    installations_drop(databases)


def _postgres_execute(statement: str) -> None:
    import psycopg

    with psycopg.connect(f"{_postgres_admin_url()}/postgres", autocommit=True) as connection:
        connection.execute(statement)  # type: ignore[arg-type]
