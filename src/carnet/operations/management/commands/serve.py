"""`carnet serve`: gunicorn serving Carnet, static files through WhiteNoise, and a worker beside
it for the background tasks (unless `--no-worker`)."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils.translation import gettext as _


class Command(BaseCommand):
    help = (
        "Serve Carnet with gunicorn (WhiteNoise serves the static files), with `carnet worker` "
        "beside it for the background tasks."
    )
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="Address to listen on.")
        parser.add_argument("--port", type=int, default=8000, help="Port (default 8000).")
        parser.add_argument(
            "--workers", type=int, default=2, help="Web server processes (default 2)."
        )
        parser.add_argument(
            "--timeout", type=int, default=60, help="Seconds before a stuck request is killed."
        )
        parser.add_argument(
            "--no-worker",
            action="store_false",
            dest="worker",
            help="Do not start `carnet worker` beside the server (when it runs as a service of "
            "its own); tasks then wait in the database for a worker.",
        )
        demo = parser.add_mutually_exclusive_group()
        demo.add_argument(
            "--demo",
            action="store_const",
            const=[],
            dest="demo",
            help="Load the demo first (`carnet demo`, migrating a new database), in a process of "
            "its own while the server gets ready on the other core; serve once it is loaded "
            "(`make run`).",
        )
        demo.add_argument(
            "--demo-without-patients",
            action="store_const",
            const=["--no-patients"],
            dest="demo",
            help="The same, with the demo's accounts and studies only (`carnet demo "
            "--no-patients`).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["workers"] < 1:
            raise CommandError("--workers must be at least 1.")
        demo = _demo_start(options["demo"]) if options["demo"] is not None else None
        try:
            # The system checks (which import every URL and the API's schemas, inherited by the
            # web processes forked below) run beside the demo's load, not after it.
            call_command("check")
        except BaseException:
            if demo is not None:
                demo.terminate()
                demo.wait()
            raise
        if demo is not None and demo.wait() != 0:
            raise CommandError(
                _("`carnet demo` failed (exit %(code)s): nothing is served.")
                % {"code": demo.returncode}
            )
        # Refuse to start on a database that is behind the code, rather than fail per request.
        executor = MigrationExecutor(connection)
        pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
        if pending:
            raise CommandError(
                f"The database lacks {len(pending)} migrations; run `carnet migrate` first."
            )
        if not getattr(settings, "WHITENOISE_USE_FINDERS", False):
            call_command("collectstatic", interactive=False, verbosity=0)
        connection.close()  # gunicorn forks; each worker opens its own connection

        from gunicorn.app.base import BaseApplication

        bind = f"{options['host']}:{options['port']}"

        class CarnetServer(BaseApplication):
            def load_config(self) -> None:
                self.cfg.set("bind", bind)
                self.cfg.set("workers", options["workers"])
                self.cfg.set("timeout", options["timeout"])
                self.cfg.set("accesslog", "-")
                # No control socket in the home directory: `carnet serve` is managed by signals.
                self.cfg.set("control_socket_disable", True)

            def load(self) -> Any:
                from carnet.config.wsgi import application

                return application

        worker = _worker_start() if options["worker"] else None
        self.stdout.write(f"Carnet is serving on http://{bind}/ (Ctrl-C to stop)", ending="\n")
        self.stdout.flush()
        try:
            CarnetServer().run()
        finally:
            if worker is not None:
                _worker_stop(worker)


def _demo_start(arguments: list[str]) -> subprocess.Popen[bytes]:
    """Start `carnet demo` as a child writing to this terminal; its system checks are ours."""
    return subprocess.Popen(
        [sys.executable, "-m", "carnet.cli", "demo", "--skip-checks", *arguments]
    )


def _worker_start() -> subprocess.Popen[bytes]:
    """Start `carnet worker` as a child that stops when the server stops (or dies), even if the
    server dies before the worker is ready to notice."""
    return subprocess.Popen(
        [sys.executable, "-m", "carnet.cli", "worker", "--parent", str(os.getpid())],
        # A session of its own: a Ctrl-C at the terminal reaches the server alone, which then
        # asks the worker once to stop (a second signal would interrupt its task).
        start_new_session=True,
    )


def _worker_stop(worker: subprocess.Popen[bytes]) -> None:
    """Ask the worker to stop after its current task; end it if it has not within a minute."""
    if worker.poll() is None:
        worker.terminate()
    try:
        worker.wait(timeout=60)
    except subprocess.TimeoutExpired:
        worker.kill()  # its task goes back in the queue at the next start
        worker.wait()
