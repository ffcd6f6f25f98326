"""`carnet safety ...`: SAE reports and their clocks, the line listing of a period, the
reference safety information, an E2B(R3) ICSR and the reconciliation's differences."""

from __future__ import annotations

import argparse
import csv
from datetime import date
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from carnet.audit.services import SystemActor
from carnet.core.clock import utc_today
from carnet.core.errors import CarnetError
from carnet.safety import clocks, documents, e2b, services
from carnet.safety.case_data import mask
from carnet.safety.models import ReferenceSafetyInformation, SaeReport
from carnet.safety.selectors import unreconciled_count
from carnet.studies.models import Study


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from error


class Command(BaseCommand):
    help = (
        "Pharmacovigilance: SAE reports and their clocks, line listings, reference safety "
        "information, E2B(R3) ICSRs and reconciliation."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        reports = actions.add_parser(
            "reports", help="List the study's SAE, AESI and pregnancy reports and clocks (CSV)."
        )
        reports.add_argument("study", metavar="STUDY")
        listing = actions.add_parser(
            "listing", help="Write the line listing of the cases received in a period (CSV)."
        )
        listing.add_argument("study", metavar="STUDY")
        listing.add_argument("--from", dest="start", type=_day, required=True)
        listing.add_argument("--to", dest="end", type=_day, required=True)
        listing.add_argument("--output", type=Path, help="A file (default: standard output).")
        rsi_list = actions.add_parser("rsi-list", help="List the reference safety information.")
        rsi_list.add_argument("study", metavar="STUDY")
        rsi_add = actions.add_parser(
            "rsi-add", help="Add a version of the reference safety information (audited)."
        )
        rsi_add.add_argument("study", metavar="STUDY")
        rsi_add.add_argument("version", metavar="VERSION")
        rsi_add.add_argument("--from", dest="effective_from", type=_day, required=True)
        rsi_add.add_argument(
            "--terms", required=True, help="The expected reactions, separated by semicolons."
        )
        icsr = actions.add_parser(
            "icsr", help="Write the E2B(R3) ICSR of a sent version of a report (blinded)."
        )
        icsr.add_argument("study", metavar="STUDY")
        icsr.add_argument("reference", metavar="REFERENCE")
        icsr.add_argument("--version", type=int, default=0, help="Default: the latest sent.")
        icsr.add_argument("--output", type=Path, required=True)
        reconciliation = actions.add_parser(
            "reconciliation", help="Count the open differences between safety and clinical data."
        )
        reconciliation.add_argument("study", metavar="STUDY")

    def handle(self, *args: Any, **options: Any) -> None:
        study = Study.objects.filter(identifier=options["study"]).first()
        if study is None:
            raise CommandError(_("No study is called %(study)s.") % {"study": options["study"]})
        handler = getattr(self, "_" + options["action"].replace("-", "_"))
        try:
            handler(study, options)
        except CarnetError as error:
            raise CommandError(str(error)) from error

    def _reports(self, study: Study, options: dict[str, Any]) -> None:
        writer = csv.writer(self.stdout)
        writer.writerow(
            ["reference", "subject", "aware_at", "site_due_at", "susar", "due_on", "state", "kind"]
        )
        today = utc_today()
        for report in SaeReport.objects.filter(study=study).select_related("subject"):
            writer.writerow(
                [
                    report.reference,
                    report.subject.identifier,
                    report.aware_at.isoformat(),
                    clocks.site_due_at(report.aware_at, report.site_limit_hours).isoformat(),
                    "yes" if report.susar else "no",
                    report.susar_due_on.isoformat() if report.susar_due_on else "",
                    clocks.clock_state(report.susar_due_on, report.susar_reported_on, today),
                    report.kind,
                ]
            )

    def _listing(self, study: Study, options: dict[str, Any]) -> None:
        text = documents.line_listing_csv(
            SaeReport.objects.filter(study=study), start=options["start"], end=options["end"]
        )
        if options["output"]:
            options["output"].write_text(text, encoding="utf-8")
        else:
            self.stdout.write(text, ending="")

    def _rsi_list(self, study: Study, options: dict[str, Any]) -> None:
        for rsi in ReferenceSafetyInformation.objects.filter(study=study):
            terms = "; ".join(rsi.expected_terms)
            self.stdout.write(f"{rsi.version}\t{rsi.effective_from.isoformat()}\t{terms}")

    def _rsi_add(self, study: Study, options: dict[str, Any]) -> None:
        rsi = services.rsi_add(
            actor=SystemActor.command_line("carnet safety rsi-add"),
            study=study,
            version=options["version"],
            effective_from=options["effective_from"],
            expected_terms=options["terms"].split(";"),
        )
        self.stdout.write(
            _("Reference safety information %(version)s in force from %(day)s.")
            % {"version": rsi.version, "day": rsi.effective_from.isoformat()}
        )

    def _icsr(self, study: Study, options: dict[str, Any]) -> None:
        report = SaeReport.objects.filter(study=study, reference=options["reference"]).first()
        if report is None:
            raise CommandError(
                _("No SAE report %(reference)s.") % {"reference": options["reference"]}
            )
        sent = report.versions.filter(sent_at__isnull=False).order_by("number")
        version = (
            sent.filter(number=options["version"]).first() if options["version"] else sent.last()
        )
        if version is None:
            raise CommandError(_("This version of the report was not sent."))
        # The server's command line reads as a blinded person: arm-revealing values masked.
        version.content = mask(version.content)
        options["output"].write_bytes(e2b.icsr_xml(report, version))
        self.stdout.write(str(options["output"]))

    def _reconciliation(self, study: Study, options: dict[str, Any]) -> None:
        self.stdout.write(str(unreconciled_count(study=study)))
