"""`carnet monitoring plan|sdv|progress|outstanding|visits|visit-report STUDY`: the monitoring
plan, source data verification and monitoring visits from the server (writes audited as the
command line)."""

from __future__ import annotations

import argparse
import csv
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from carnet.audit.services import SystemActor
from carnet.core.errors import CarnetError
from carnet.monitoring import selectors
from carnet.monitoring.models import PlanRule
from carnet.monitoring.report import visit_report_html, visit_report_pdf
from carnet.monitoring.services import monitoring_plan_set, sdv_verify
from carnet.subjects.models import Subject


class Command(BaseCommand):
    help = (
        "Set or print a study's monitoring plan, verify source data, and print SDV progress "
        "and monitoring visits."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        plan = actions.add_parser("plan", help="Print the plan, or set it with --rule (audited).")
        plan.add_argument("study", metavar="STUDY")
        plan.add_argument("--rule", choices=PlanRule.values, help="Which items monitors verify.")
        plan.add_argument(
            "--first-patients", type=int, default=3, help="first_patients: N per site."
        )
        plan.add_argument("--share-percent", type=int, default=20, help="random_share: % per site.")
        plan.add_argument("--seed", default="carnet", help="random_share: the draw's seed.")
        sdv = actions.add_parser(
            "sdv", help="Verify a subject's casebook, a visit, a form or an item (audited)."
        )
        sdv.add_argument("study", metavar="STUDY")
        sdv.add_argument("--subject", required=True, help="The subject's identifier.")
        sdv.add_argument("--event", default="", help="A visit's event.")
        sdv.add_argument("--occurrence", type=int, default=1, help="The visit's occurrence.")
        sdv.add_argument("--form", default="", help="With --event: one form of the visit.")
        sdv.add_argument("--repeat", type=int, default=1, help="The form's repeat (1).")
        sdv.add_argument("--item", default="", help="With --form: one item.")
        sdv.add_argument("--row", type=int, default=0, help="The item's row in a repeating group.")
        for name, text in (
            ("progress", "Print SDV progress per site as CSV."),
            ("outstanding", "Print how many values the plan requires that are not verified."),
            ("visits", "Print the study's monitoring visits as CSV."),
        ):
            actions.add_parser(name, help=text).add_argument("study", metavar="STUDY")
        report = actions.add_parser(
            "visit-report", help="Write a monitoring visit's report (HTML, or PDF by extension)."
        )
        report.add_argument("study", metavar="STUDY")
        report.add_argument("visit", type=int, metavar="VISIT")
        report.add_argument("--output", required=True, type=Path, help="A .html or .pdf file.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            getattr(self, "_" + options["action"].replace("-", "_"))(options)
        except CarnetError as error:
            raise CommandError(str(error)) from error

    def _plan(self, options: dict[str, Any]) -> None:
        study = selectors.study_by_identifier(options["study"])
        if options["rule"]:
            monitoring_plan_set(
                actor=SystemActor.command_line("carnet monitoring plan"),
                study=study,
                rule=options["rule"],
                first_patients=options["first_patients"],
                share_percent=options["share_percent"],
                seed=options["seed"],
            )
        plan = selectors.plan_of(study)
        self.stdout.write(
            f"rule={plan.rule} first_patients={plan.first_patients} "
            f"share_percent={plan.share_percent} seed={plan.seed}"
        )

    def _sdv(self, options: dict[str, Any]) -> None:
        study = selectors.study_by_identifier(options["study"])
        subject = (
            Subject.objects.filter(study=study, identifier=options["subject"])
            .select_related("site", "study")
            .first()
        )
        if subject is None:
            raise CommandError(f"There is no subject {options['subject']} in {study.identifier}.")
        done = sdv_verify(
            actor=SystemActor.command_line("carnet monitoring sdv"),
            subject=subject,
            event=options["event"],
            occurrence=options["occurrence"] if options["event"] else None,
            form=options["form"],
            repeat=options["repeat"] if options["form"] else None,
            item=options["item"],
            row=options["row"],
        )
        self.stdout.write(f"Verified {len(done)} item values of {subject.identifier}.")

    def _progress(self, options: dict[str, Any]) -> None:
        study = selectors.study_by_identifier(options["study"])
        writer = csv.writer(self.stdout, lineterminator="\n")
        writer.writerow(["site", "required", "verified", "outstanding"])
        for row in selectors.sdv_progress_by_site(None, study):
            writer.writerow([row.site, row.required, row.verified, row.outstanding])

    def _outstanding(self, options: dict[str, Any]) -> None:
        study = selectors.study_by_identifier(options["study"])
        self.stdout.write(str(selectors.sdv_outstanding(study=study)))

    def _visits(self, options: dict[str, Any]) -> None:
        study = selectors.study_by_identifier(options["study"])
        writer = csv.writer(self.stdout, lineterminator="\n")
        writer.writerow(["id", "site", "date", "monitor", "open", "verified"])
        for visit in selectors.visits_of_study(None, study):
            report = selectors.visit_report(visit)
            writer.writerow(
                [
                    visit.pk,
                    visit.site.code,
                    visit.visit_date.isoformat(),
                    visit.monitor_name,
                    "yes" if visit.is_open else "no",
                    report.verified,
                ]
            )

    def _visit_report(self, options: dict[str, Any]) -> None:
        study = selectors.study_by_identifier(options["study"])
        visit = selectors.visit_of_study(None, study, options["visit"])
        output: Path = options["output"]
        if output.suffix.lower() == ".pdf":
            output.write_bytes(visit_report_pdf(visit))
        else:
            output.write_text(visit_report_html(visit), encoding="utf-8")
        self.stdout.write(f"Wrote {output}.")
