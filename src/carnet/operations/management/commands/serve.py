"""`carnet serve`: gunicorn serving Carnet, static files through WhiteNoise."""

from __future__ import annotations

import argparse
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.db.migrations.executor import MigrationExecutor


class Command(BaseCommand):
    help = "Serve Carnet with gunicorn (WhiteNoise serves the static files)."
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="Address to listen on.")
        parser.add_argument("--port", type=int, default=8000, help="Port (default 8000).")
        parser.add_argument("--workers", type=int, default=2, help="Worker processes (default 2).")
        parser.add_argument(
            "--timeout", type=int, default=60, help="Seconds before a stuck request is killed."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["workers"] < 1:
            raise CommandError("--workers must be at least 1.")
        call_command("check")
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

        self.stdout.write(f"Carnet is serving on http://{bind}/ (Ctrl-C to stop)", ending="\n")
        self.stdout.flush()
        CarnetServer().run()
