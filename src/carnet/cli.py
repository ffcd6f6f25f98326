"""The `carnet` command: Django's management commands with Carnet's profiles and plain errors.

`carnet check-deploy` runs Django's deployment checks on the production profile. Configuration
and database problems end with one sentence and a non-zero exit, never a traceback; so does a
reader that stops early (`carnet study show X | head`).
"""

from __future__ import annotations

import os
import sys

from carnet.config.settings import PROFILES
from carnet.core.errors import CarnetError, ConfigurationError

EXIT_CONFIGURATION = 2
EXIT_DATABASE = 3
EXIT_NOT_MIGRATED = 4
# What a shell reports for a command ended by SIGPIPE (128 + 13): the output was cut short.
EXIT_BROKEN_PIPE = 141


def _settings_module(command: str | None) -> str:
    if command == "check-deploy":
        # Deployment checks only mean something on the production profile.
        return PROFILES["production"]
    if os.environ.get("DJANGO_SETTINGS_MODULE"):
        return os.environ["DJANGO_SETTINGS_MODULE"]
    profile = os.environ.get("CARNET_PROFILE", "local")
    if profile not in PROFILES:
        raise ConfigurationError(
            f"CARNET_PROFILE={profile!r} is not a profile; use one of {', '.join(PROFILES)}."
        )
    return PROFILES[profile]


def _database_problem(error: Exception) -> str:
    from django.conf import settings

    from carnet.config.environment import redacted

    database = settings.DATABASES["default"]
    where = database.get("NAME", "")
    if database.get("HOST"):
        where = f"{database.get('HOST')}:{database.get('PORT') or 5432}/{where}"
    detail = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    url = os.environ.get("DATABASE_URL")
    shown = redacted(url) if url else where
    return f"Cannot use the database {shown}: {detail}"


def _migrations_pending() -> int:
    """Return how many migrations the database lacks (0 when it cannot tell)."""
    from django.db import DatabaseError, connection
    from django.db.migrations.executor import MigrationExecutor

    try:
        connection.close()  # a failed statement may have left the connection unusable
        executor = MigrationExecutor(connection)
        return len(executor.migration_plan(executor.loader.graph.leaf_nodes()))
    except DatabaseError:
        return 0


def _not_migrated(command: str | None) -> str | None:
    """Return the sentence for a database that lacks migrations, or None when it does not."""
    if command == "migrate":
        return None
    pending = _migrations_pending()
    if not pending:
        return None
    from django.conf import settings

    where = settings.DATABASES["default"].get("NAME", "")
    return (
        f"The database {where} is not migrated ({pending} migrations to apply); "
        "run `carnet migrate` first."
    )


def _stdout_discarded() -> None:
    """Send what is left of standard output nowhere: the reader has gone."""
    # Without this, Python flushes the buffer again at exit and prints a second traceback.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def main(argv: list[str] | None = None) -> int:
    """Run one `carnet` command and return its exit status."""
    try:
        return _run(argv)
    except BrokenPipeError:
        _stdout_discarded()
        return EXIT_BROKEN_PIPE


def _run(argv: list[str] | None) -> int:
    arguments = list(sys.argv if argv is None else argv)
    arguments[0] = "carnet"
    command = arguments[1] if len(arguments) > 1 else None
    try:
        os.environ["DJANGO_SETTINGS_MODULE"] = _settings_module(command)
        import django
        from django.db.utils import InterfaceError, OperationalError, ProgrammingError

        django.setup()
        from django.core.management import execute_from_command_line

        if command == "check-deploy":
            arguments[1:2] = ["check", "--deploy", "--fail-level", "WARNING"]
        try:
            execute_from_command_line(arguments)
        except (OperationalError, InterfaceError, ProgrammingError) as error:
            # A missing table (SQLite: OperationalError, PostgreSQL: ProgrammingError) is a
            # database nobody has migrated yet, not an unreachable one.
            not_migrated = _not_migrated(command)
            if not_migrated:
                print(f"carnet: {not_migrated}", file=sys.stderr)
                return EXIT_NOT_MIGRATED
            if isinstance(error, ProgrammingError):
                raise
            print(f"carnet: {_database_problem(error)}", file=sys.stderr)
            return EXIT_DATABASE
    except CarnetError as error:
        print(f"carnet: {error}", file=sys.stderr)
        return EXIT_CONFIGURATION
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
