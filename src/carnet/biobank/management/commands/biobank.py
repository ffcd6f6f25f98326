"""`carnet biobank ACTION STUDY …`: the biobank from the server, writes audited as the command
line. Here: record a sample the protocol expects and its processing steps, print a subject's
expected and collected samples or the study's missing ones. Labels, aliquots and storage come
from carnet.biobank.cli_storage, shipments, MTAs, requests, withdrawals and the LIMS exchange
from carnet.biobank.cli_exchange."""

from __future__ import annotations

import argparse
import csv
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.core.management.base import CommandError
from django.utils.translation import gettext as _

from carnet.audit.services import SystemActor
from carnet.biobank import expected as expected_samples
from carnet.biobank.cli_exchange import EXCHANGE_ACTIONS, add_exchange_actions, handle_exchange
from carnet.biobank.cli_storage import StorageActions
from carnet.biobank.collection import sample_collect, sample_process
from carnet.biobank.models import Held, Sample, StepKind
from carnet.core.errors import CarnetError, ValidationError
from carnet.studies.models import Study
from carnet.subjects.models import Subject


def _moment(text: str) -> datetime:
    """Return an ISO time with its offset (argparse shows the refusal with the option)."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise argparse.ArgumentTypeError(
            _("Give the time with its offset, e.g. 2026-03-02T09:15+01:00.")
        )
    return moment


class Command(StorageActions):
    help = (
        "Record a collected sample and its processing steps (SPREC computed), and print "
        "expected, collected and missing samples."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        collect = actions.add_parser(
            "collect", help="Record the collection of an expected sample (audited)."
        )
        collect.add_argument("study", metavar="STUDY")
        collect.add_argument("--subject", required=True)
        collect.add_argument("--event", required=True)
        collect.add_argument("--occurrence", type=int, default=1)
        collect.add_argument("--code", required=True, help="The sample code the event expects.")
        collect.add_argument("--at", required=True, type=_moment, help="ISO time with offset.")
        collect.add_argument("--by", default="", help="Who collected it.")
        collect.add_argument("--volume", type=Decimal)
        collect.add_argument("--held", choices=Held.values, default=Held.ROOM)
        collect.add_argument("--method", default="", help="Tissue: surgery, biopsy…")
        collect.add_argument("--warm-ischaemia", type=int, help="Tissue: minutes.")
        process = actions.add_parser(
            "process", help="Record (or correct) a processing step of a sample (audited)."
        )
        process.add_argument("study", metavar="STUDY")
        process.add_argument("sample", metavar="SAMPLE")
        process.add_argument("--kind", required=True, choices=StepKind.values)
        process.add_argument("--start", required=True, type=_moment)
        process.add_argument("--end", type=_moment)
        process.add_argument("--temperature", type=Decimal, help="°C")
        process.add_argument("--force", type=int, help="g")
        process.add_argument("--no-braking", action="store_true")
        process.add_argument("--held", choices=Held.values, default=Held.ROOM)
        process.add_argument("--fixative", default="")
        process.add_argument("--reason", default="", help="To correct a recorded step.")
        expected = actions.add_parser(
            "expected",
            help="Print a subject's expected and collected samples, or the missing ones, as CSV.",
        )
        expected.add_argument("study", metavar="STUDY")
        expected.add_argument("--subject", default="", help="Without it: the missing samples.")
        # Labels, aliquots, freezers, boxes and storage.
        self.add_storage_actions(actions)
        # Shipments, MTAs, requests, consent withdrawals, LIMS exchange.
        add_exchange_actions(actions)

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] in EXCHANGE_ACTIONS:
            try:
                handle_exchange(options, self.stdout.write)
            except CarnetError as error:
                raise CommandError(str(error)) from error
            return
        try:
            study = Study.objects.filter(identifier=options["study"]).first()
            if study is None:
                raise ValidationError(
                    _("There is no study %(study)s.") % {"study": options["study"]}
                )
            getattr(self, "_" + options["action"].replace("-", "_"))(study, options)
        except (CarnetError, ValueError) as error:
            raise CommandError(str(error)) from error

    def _subject(self, study: Study, identifier: str) -> Subject:
        subject = (
            Subject.objects.filter(study=study, identifier=identifier)
            .select_related("site", "site__centre", "study")
            .first()
        )
        if subject is None:
            raise ValidationError(_("There is no subject %(subject)s.") % {"subject": identifier})
        return subject

    def _collect(self, study: Study, options: dict[str, Any]) -> None:
        sample = sample_collect(
            actor=SystemActor.command_line("carnet biobank collect"),
            subject=self._subject(study, options["subject"]),
            event=options["event"],
            occurrence=options["occurrence"],
            code=options["code"],
            collected_at=options["at"],
            collector=options["by"],
            volume=options["volume"],
            held=options["held"],
            collection_method=options["method"],
            warm_ischaemia_minutes=options["warm_ischaemia"],
        )
        self.stdout.write(f"{sample.identifier} {sample.sprec}")

    def _process(self, study: Study, options: dict[str, Any]) -> None:
        sample = (
            Sample.objects.filter(study=study, identifier=options["sample"])
            .select_related("subject", "subject__site", "subject__study", "study", "collection")
            .first()
        )
        if sample is None:
            raise ValidationError(
                _("There is no sample %(sample)s.") % {"sample": options["sample"]}
            )
        sample_process(
            actor=SystemActor.command_line("carnet biobank process"),
            sample=sample,
            kind=options["kind"],
            started_at=options["start"],
            ended_at=options["end"],
            temperature=options["temperature"],
            force_g=options["force"],
            braking=not options["no_braking"],
            held=options["held"],
            fixative=options["fixative"],
            reason=options["reason"],
        )
        sample.refresh_from_db()
        self.stdout.write(f"{sample.identifier} {sample.sprec}")
        for deviation in sample.collection.deviations:
            self.stdout.write(f"deviation: {deviation['code']}")

    def _expected(self, study: Study, options: dict[str, Any]) -> None:
        writer = csv.writer(self.stdout)
        if options["subject"]:
            subject = self._subject(study, options["subject"])
            writer.writerow(["event", "occurrence", "code", "type", "state", "samples"])
            for visit in expected_samples.visit_samples(subject):
                for row in visit.rows:
                    writer.writerow(
                        [
                            visit.event.name,
                            visit.number,
                            row.expected.code,
                            row.expected.type,
                            row.state,
                            " ".join(sample.identifier for sample in row.samples),
                        ]
                    )
            return
        _total, rows = expected_samples.study_missing_samples(study)
        writer.writerow(["subject", "site", "event", "occurrence", "code", "visit_on"])
        for missing in rows:
            writer.writerow(
                [
                    missing.subject,
                    missing.site,
                    missing.event,
                    missing.number,
                    missing.code,
                    missing.done_on,
                ]
            )
