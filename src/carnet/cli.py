"""The `carnet` command: Carnet's own commands plus `migrate` and `check`, with plain errors.

Only the commands of the allow-list run. Django's writing commands (`createsuperuser`, `flush`,
`loaddata`, `shell`…) would change the database behind the audit trail's back: they are unknown
commands, and the refusal names the Carnet command that does the same through a service.
`carnet migrate` only goes forward. `carnet check-deploy` runs Django's deployment checks on the
production profile. Configuration and database problems end with one sentence and a non-zero
exit, never a traceback; so does a reader that stops early (`carnet study show X | head`).
"""

from __future__ import annotations

import os
import sys
import textwrap

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from carnet.config.settings import PROFILES
from carnet.core.errors import CarnetError, ConfigurationError

# Carnet's own commands: each write goes through a service, which records it in the audit trail.
# `scripts/cli_reference.py` documents them in this order.
CARNET_COMMANDS = (
    "study",
    "centre",
    "site",
    "user",
    "role",
    "token",
    "schedule",
    "randomization",
    "deviations",
    "lab",
    "queries",
    "lock",
    "cutoff",
    "export",
    "crf",
    "casebook",
    "import",
    "checks",
    "design",
    "audit",
    "backup",
    "restore",
    "setting",
    "demo",
    "serve",
    "worker",
    "monitoring",
    "biobank",
    "dblock",
    "sign",
    "redcap",
    "odm",
    "safety",
    "coding",
    "analysis",
    "report",
    "pharmacy",
)
# Django's commands that Carnet keeps: the schema upgrade (forward only) and the read-only checks.
DJANGO_COMMANDS = ("migrate", "check")
# `carnet check-deploy` is `check --deploy` on the production profile.
CHECK_DEPLOY = "check-deploy"
HELP = ("help", "-h", "--help")

# What to use instead of a Django command that writes behind the audit trail's back.
_EMPTY = gettext_lazy(
    "Carnet never empties its database; to go back to an earlier state, restore a backup with "
    "`carnet restore FILE`."
)
_SHELL = gettext_lazy(
    "a change made there would escape the audit trail; `carnet help` lists the commands that "
    "write through it."
)
_UNLOCK = gettext_lazy(
    "lift a sign-in lock with `carnet user unlock NAME --reason …`, which the audit trail records."
)
INSTEAD = {
    "createsuperuser": gettext_lazy(
        "create the administrator with `carnet user create NAME --admin`, which the audit trail "
        "records."
    ),
    "changepassword": gettext_lazy(
        "change the password with `carnet user password NAME`, which the audit trail records."
    ),
    "flush": _EMPTY,
    "sqlflush": _EMPTY,
    "loaddata": gettext_lazy(
        "load a study with `carnet study load FILE` or the demo with `carnet demo`; data enter "
        "through the pages, the API and the imports, which the audit trail records."
    ),
    "dumpdata": gettext_lazy("copy the database with `carnet backup`."),
    "runserver": gettext_lazy("serve Carnet with `carnet serve`."),
    "collectstatic": gettext_lazy("`carnet serve` collects the static files itself."),
    "shell": _SHELL,
    "dbshell": _SHELL,
    # django-otp's: a recovery code made behind its owner's back.
    "addstatictoken": gettext_lazy(
        "a person makes their own recovery codes on the page My account › Second sign-in factor."
    ),
    # django-axes's commands clear sign-in locks without a trace.
    "axes_reset": _UNLOCK,
    "axes_reset_ip": _UNLOCK,
    "axes_reset_username": _UNLOCK,
    "axes_reset_ip_username": _UNLOCK,
    "axes_reset_failure_logs": _UNLOCK,
    "axes_reset_logs": _UNLOCK,
}

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


def _terminal_language() -> str:
    """Return the language of the terminal's messages: French when its locale is French."""
    # The POSIX order: LC_ALL overrides LC_MESSAGES, which overrides LANG.
    for variable in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(variable)
        if value:
            return "fr" if value.lower().startswith("fr") else "en"
    return "en"


def _unknown(command: str) -> str:
    """Return the refusal of a command outside the allow-list, naming Carnet's equivalent."""
    instead = INSTEAD.get(command)
    if instead is None:
        return _("`carnet %(command)s` is not a Carnet command; `carnet help` lists them.") % {
            "command": command
        }
    return _("`carnet %(command)s` is not a Carnet command: %(instead)s") % {
        "command": command,
        "instead": instead,
    }


def _offered() -> dict[str, str]:
    """Return each command `carnet` offers here, with its one-line description."""
    from django.core.management import get_commands, load_command_class

    installed = get_commands()
    offered = {}
    for name in CARNET_COMMANDS:
        # A command of the allow-list whose app is not installed yet is simply not offered.
        if name in installed:
            described = str(load_command_class(installed[name], name).help).split(". ")[0]
            offered[name] = textwrap.shorten(
                described, width=72, placeholder="…", break_on_hyphens=False
            )
    offered["migrate"] = _("Upgrade the database to this version of Carnet (forward only).")
    offered["check"] = _("Check the configuration (reads only).")
    offered[CHECK_DEPLOY] = _("Run the deployment checks on the production profile.")
    return offered


def _listing() -> str:
    """Return what `carnet help` prints: the commands offered and how to learn more."""
    offered = _offered()
    width = max(len(name) for name in offered) + 2
    lines = [_("Usage: carnet COMMAND [options]; `carnet help COMMAND` shows its options."), ""]
    lines += [_("Commands:")]
    lines += [f"  {name.ljust(width)}{description}" for name, description in offered.items()]
    return "\n".join(lines)


def _allowed(command: str) -> bool:
    return command in CARNET_COMMANDS or command in DJANGO_COMMANDS or command == CHECK_DEPLOY


def _refusal(arguments: list[str]) -> tuple[int, str] | None:
    """Return the exit status and text for `carnet`, `carnet help` or a refused command.

    None lets the command run. Reads no database: a refused command opens nothing.
    """
    command = arguments[1] if len(arguments) > 1 else None
    if command is None or command in HELP:
        asked = arguments[2] if command == "help" and len(arguments) > 2 else None
        if asked is None or asked in HELP:
            return 0, _listing()
        command = asked
    if command == "--version":
        from carnet import __version__

        return 0, f"carnet {__version__}"
    if _allowed(command):
        return None
    return 1, _unknown(command)


# `migrate` flags that make the record of applied migrations disagree with the schema: --fake and
# --fake-initial mark migrations applied without running them (the audit triggers among them),
# --prune forgets applied ones.
UNRECORDED_MIGRATION_FLAGS = ("--fake", "--fake-initial", "--prune")


def _unrecorded_migration(arguments: list[str]) -> str | None:
    """Return the refusal of a `carnet migrate` flag that skips or forgets migrations, or None."""
    for flag in UNRECORDED_MIGRATION_FLAGS:
        if flag in arguments:
            return _(
                "`carnet migrate %(flag)s` is refused: the database would record migrations "
                "that never ran, or forget some that did; run `carnet migrate` alone."
            ) % {"flag": flag}
    return None


def _backwards_migration(arguments: list[str]) -> str | None:
    """Return the refusal of a `carnet migrate APP NAME` that would unapply migrations, or None.

    Going back would drop what the data and the trail rely on (among others the triggers that
    keep the audit tables append-only): the way back is a backup taken before the upgrade.
    """
    from django.core.management import CommandError, load_command_class
    from django.db import connections
    from django.db.migrations.exceptions import AmbiguityError
    from django.db.migrations.executor import MigrationExecutor

    parser = load_command_class("django.core", "migrate").create_parser("carnet", "migrate")
    try:
        options, _rest = parser.parse_known_args(arguments)
    except (CommandError, SystemExit):
        return None  # Django names what is wrong with the arguments
    if not options.migration_name:
        return None
    refusal = _(
        "`carnet migrate` only goes forward: the way back is a backup taken before the upgrade "
        "(`carnet restore FILE`)."
    )
    if options.migration_name == "zero":
        return refusal
    executor = MigrationExecutor(connections[options.database])
    try:
        migration = executor.loader.get_migration_by_prefix(
            options.app_label, options.migration_name
        )
    except (AmbiguityError, KeyError):
        return None  # Django names the unknown or ambiguous migration
    plan = executor.migration_plan([(options.app_label, migration.name)])
    return refusal if any(backwards for _migration, backwards in plan) else None


def _collector_for_migrate() -> None:
    """Pause the garbage collector when migrating a database that has no migration applied
    yet (`make run`'s first step): three tenths of the command's CPU time otherwise."""
    from django.db import connection
    from django.db.migrations.recorder import MigrationRecorder

    from carnet.core.collector import collector_pause

    recorder = MigrationRecorder(connection)
    if not recorder.has_table() or not recorder.applied_migrations():
        collector_pause()


def _said(status: int, text: str) -> int:
    """Print `carnet help`'s listing, or a refusal on standard error; return the exit status."""
    if status == 0:
        print(text)
    else:
        print(f"carnet: {text}", file=sys.stderr)
    return status


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
        from django.utils import translation

        with translation.override(_terminal_language()):
            refused = _refusal(arguments)
        if refused is not None:
            return _said(*refused)
        if command == CHECK_DEPLOY:
            arguments[1:2] = ["check", "--deploy", "--fail-level", "WARNING"]
        elif arguments[1:3] == ["help", CHECK_DEPLOY]:
            arguments[2] = "check"
        try:
            if command == "migrate":
                with translation.override(_terminal_language()):
                    refusal = _unrecorded_migration(arguments[2:]) or _backwards_migration(
                        arguments[2:]
                    )
                if refusal:
                    return _said(1, refusal)
                if argv is None:  # the `carnet` process itself, which ends with the command
                    _collector_for_migrate()
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
