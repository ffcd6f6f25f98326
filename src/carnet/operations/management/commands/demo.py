"""`carnet demo`: migrate the database, load the demo installation (idempotent) and say how to
log in.

The command stays with the other installation commands (backup, restore, serve, setting): the
demo itself is data, a plain package (carnet/demo) with no models or migrations, so it needs no
Django app of its own just to be discovered."""

from __future__ import annotations

import argparse
import time
from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.urls import get_resolver

from carnet.accounts.permissions import permissions_remembered
from carnet.audit.services import SystemActor
from carnet.core.collector import collector_calmed, collector_paused
from carnet.core.errors import CarnetError
from carnet.demo import (
    DEMO_SITE_STAFF,
    StudyPatients,
    demo_load,
    demo_patients_load,
    demo_studies_load,
)
from carnet.demo.pharmacy import DEMO_PHARMACISTS


class Command(BaseCommand):
    help = (
        "Load the demo, migrating the database first when it needs it: the administrator "
        "account and the two demo studies (a randomised phase III in colorectal cancer, a Simon "
        "two-stage phase II) with synthetic patients up to yesterday, their forms written through "
        "the bulk import path. Running it again adds nothing."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--password",
            help="Password for the demo accounts (default: generated once and kept in the data "
            "directory).",
        )
        parser.add_argument(
            "--no-patients",
            action="store_true",
            help="Load the accounts and studies only, without the synthetic patients (quick).",
        )
        parser.add_argument(
            "--scale",
            type=int,
            metavar="N",
            help="For the benchmarks: load SCALE-CRC (MAINTAIN-CRC's design) with N synthetic "
            "patients through the bulk import path (about 520 values each: N = 10000 gives "
            "over 5 million), randomised, with their outcomes (tumour assessments, adverse "
            "events, end of treatment, follow-up), in place of the demo patients. Run again, it "
            "adds the patients missing and randomises those without an allocation.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        # core/collector.py: a tenth of the load's CPU time otherwise. The roles each account
        # holds are read once, as within a request: the demo's pharmacists and staff ask the same
        # question for every kit and form, and a change of memberships (the demo grants roles
        # through the accounts' services) empties what was remembered.
        if not options["no_patients"]:
            # The patients' notifications link to their forms: the URLs (and the API's schemas)
            # are loaded now, before the collector leaves what is loaded out of its passes.
            get_resolver().url_patterns  # noqa: B018
        with collector_calmed(), permissions_remembered():
            self._handle(options)

    def _handle(self, options: dict[str, Any]) -> None:
        self._migrate()
        try:
            actor = SystemActor.command_line("carnet demo")
            accounts = demo_load(actor=actor, password=options["password"])
            studies = demo_studies_load(actor=actor)
            for study in studies:
                self.stdout.write(
                    f"Study {study.identifier}: version {study.version}, {study.mode} mode"
                    + (" (already loaded)" if study.outcome == "unchanged" else "")
                )
            if options["scale"] is not None:
                self._scale(actor, options["scale"])
            skip = options["no_patients"] or options["scale"] is not None
            patients = [] if skip else self._patients(actor)
        except CarnetError as error:
            raise CommandError(str(error)) from error
        for summary in patients:
            statuses = ", ".join(
                f"{n} {s.replace('_', ' ')}" for s, n in sorted(summary.statuses.items())
            )
            self.stdout.write(
                f"Patients in {summary.identifier}: {sum(summary.statuses.values())} ({statuses}); "
                f"{summary.added} added now"
            )
        password = accounts[0].password
        names = ", ".join(
            [account.username for account in accounts]
            + (
                []
                if options["no_patients"] and options["scale"] is None
                else [name for name, _n, _s in DEMO_SITE_STAFF]
            )
            # MAINTAIN-CRC's pharmacists of sites 02 and 03 come with its patients.
            + ([name for name, _n, _s in DEMO_PHARMACISTS] if patients else [])
        )
        self.stdout.write("Demo loaded. Log in at http://127.0.0.1:8000/ as one of:")
        self.stdout.write(f"  {names}")
        self.stdout.write(f"with the password {password!r} (kept in the data directory).")

    def _migrate(self) -> None:
        """Apply the migrations the database lacks: the demo is the first command people type."""
        executor = MigrationExecutor(connection)
        pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
        if not pending:
            return
        self.stdout.write(f"Migrating the database ({len(pending)} migrations)…")
        if executor.loader.applied_migrations:
            call_command("migrate", interactive=False, verbosity=0)
            return
        with collector_paused():  # a new database: no data migration walks any row
            call_command("migrate", interactive=False, verbosity=0)
        connection.close()  # the load starts on a new connection, as after `carnet migrate`

    def _scale(self, actor: SystemActor, count: int) -> None:
        """Load the scale study with a progress bar (a terminal redraws it; a log gets a line
        every tenth)."""
        from carnet.demo.scale import SCALE_STUDY, scale_patients_load

        if count < 1:
            raise CommandError("--scale takes a number of patients of at least 1.")
        started = time.monotonic()
        tty = self.stdout.isatty()
        shown = [-1]

        def progress(done: int, total: int) -> None:
            elapsed = time.monotonic() - started
            width = 30
            filled = width * done // total
            line = (
                f"  {SCALE_STUDY} [{'#' * filled}{'.' * (width - filled)}] {done}/{total} "
                f"patients, {elapsed:.0f} s"
            )
            if tty:
                self.stdout.write("\r" + line, ending="" if done < total else "\n")
                self.stdout.flush()
            elif 10 * done // total > shown[0]:
                shown[0] = 10 * done // total
                self.stdout.write(line)

        outcome = scale_patients_load(actor=actor, count=count, progress=progress)
        seconds = time.monotonic() - started
        self.stdout.write(
            f"Patients in {SCALE_STUDY}: {outcome.added} added, {outcome.already_there} already "
            f"there, {outcome.randomised} randomised now; {outcome.values:,} values written in "
            f"{seconds:.0f} s"
        )

    def _patients(self, actor: SystemActor) -> list[StudyPatients]:
        """Load the demo patients with one progress line per study (a terminal redraws it)."""
        started = time.monotonic()
        tty = self.stdout.isatty()

        def progress(identifier: str, done: int, total: int) -> None:
            if tty:
                self.stdout.write(f"\r  {identifier} {done}/{total} patients", ending="")
                self.stdout.flush()
            if done == total:
                self.stdout.write(
                    ("\r" if tty else "") + f"  {identifier} {done}/{total} patients "
                    f"({time.monotonic() - started:.0f} s)"
                )

        return demo_patients_load(actor=actor, progress=progress)
