"""`carnet pharmacy batches|kits-import|kits-generate|relabel|shipment-create|shipment-send|
receive|excursion|excursion-decide|assign|dispense|return|destroy|accountability|resupply STUDY`:
the study's stock, its kits' assignment and dispensing, accountability and resupply from the
server (every write in the ledger and the audit trail, as the command line). The server's
commands may read kit contents: `kits-generate` writes the generated list, with contents, for
the manufacturer's labels."""

from __future__ import annotations

import argparse
import csv
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from carnet.accounts.models import StudySite
from carnet.audit.services import SystemActor
from carnet.core.errors import CarnetError
from carnet.pharmacy.cli_dispensing import ACTIONS, add_dispensing_actions, run_dispensing_action
from carnet.pharmacy.excursions import excursion_decide, excursion_report
from carnet.pharmacy.models import Batch, Excursion, ExcursionDecision, Shipment
from carnet.pharmacy.shipments import (
    kit_numbers,
    shipment_create,
    shipment_receipt_close,
    shipment_receive_kit,
    shipment_send,
)
from carnet.pharmacy.supply import (
    batch_create,
    batch_release,
    kits_generate,
    kits_import,
    kits_relabel,
)
from carnet.studies.models import Study
from carnet.subjects.environments import environment_written
from carnet.subjects.services import site_today


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def _decimal(text: str) -> Decimal:
    try:
        return Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None


class Command(BaseCommand):
    help = (
        "The study's pharmacy stock: batches, kit lists, relabelling, shipments and their "
        "receipt, temperature excursions."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        batches = actions.add_parser(
            "batches",
            help="Print the batches as CSV; --add records one, --release records its QP release.",
        )
        batches.add_argument("study", metavar="STUDY")
        batches.add_argument("--add", metavar="NUMBER", help="A new batch's number.")
        batches.add_argument("--release", metavar="NUMBER", help="A batch the QP released.")
        batches.add_argument("--product", help="--add: the product's code in the study YAML.")
        batches.add_argument("--expiry", type=_date, help="--add: the batch's expiry.")
        batches.add_argument("--released-on", type=_date, help="The QP's release date.")
        kits_in = actions.add_parser(
            "kits-import",
            help="Import the manufacturer's kit list (CSV: kit, batch, content[, expiry]) with "
            "its SHA-256; all lines or none.",
        )
        kits_in.add_argument("study", metavar="STUDY")
        kits_in.add_argument("file", type=Path, metavar="FILE")
        kits_in.add_argument(
            "--sha256",
            help="The SHA-256 given beside the file (default: the file FILE.sha256).",
        )
        generate = actions.add_parser(
            "kits-generate",
            help="Generate kits of each arm in a batch, shuffled across the numbers; write the "
            "list (with contents) for the labels.",
        )
        generate.add_argument("study", metavar="STUDY")
        generate.add_argument("--batch", required=True, help="The batch's number.")
        generate.add_argument("--per-arm", type=int, required=True, help="Kits of each arm.")
        generate.add_argument("--pattern", default="K{seq:05}", help="Numbering, with {seq}.")
        generate.add_argument("--output", type=Path, required=True, help="The CSV list written.")
        relabel = actions.add_parser(
            "relabel", help="Give kits (or a batch's kits) a new expiry after an extension."
        )
        relabel.add_argument("study", metavar="STUDY")
        relabel.add_argument("--kits", default="", help="Kit numbers, separated by commas.")
        relabel.add_argument("--batch", default="", help="Or every kit of a batch still in hand.")
        relabel.add_argument("--expiry", type=_date, required=True, help="The new expiry.")
        relabel.add_argument("--reason", required=True, help="E.g. the extension's reference.")
        create = actions.add_parser("shipment-create", help="Prepare a shipment of depot kits.")
        create.add_argument("study", metavar="STUDY")
        create.add_argument("--site", required=True, help="The site's code.")
        create.add_argument("--kits", required=True, help="Kit numbers, separated by commas.")
        send = actions.add_parser("shipment-send", help="Record that a shipment left the depot.")
        send.add_argument("study", metavar="STUDY")
        send.add_argument("shipment", metavar="SHIPMENT")
        receive = actions.add_parser(
            "receive", help="Receive kits of a shipment; --close ends the receipt."
        )
        receive.add_argument("study", metavar="STUDY")
        receive.add_argument("shipment", metavar="SHIPMENT")
        receive.add_argument("--kits", default="", help="Kit numbers received in good order.")
        receive.add_argument(
            "--damaged",
            action="append",
            default=[],
            metavar="KIT:NOTE",
            help="A kit received damaged, with what is damaged (repeatable).",
        )
        receive.add_argument("--close", action="store_true", help="Close the receipt.")
        receive.add_argument("--temperature-record", default="", help="--close: the logger's.")
        receive.add_argument(
            "--temperature-out",
            action="store_true",
            help="--close: the temperature left the range (the kits received are quarantined).",
        )
        excursion = actions.add_parser(
            "excursion", help="Report a temperature excursion: its kits are quarantined."
        )
        excursion.add_argument("study", metavar="STUDY")
        excursion.add_argument("--site", required=True, help="The site's code.")
        excursion.add_argument("--kits", default="", help="Kit numbers, separated by commas.")
        excursion.add_argument("--shipment", default="", help="Or a received shipment.")
        excursion.add_argument("--description", required=True, help="What happened.")
        excursion.add_argument("--minimum", type=_decimal, help="Lowest temperature (°C).")
        excursion.add_argument("--maximum", type=_decimal, help="Highest temperature (°C).")
        excursion.add_argument("--minutes", type=int, help="How long.")
        decide = actions.add_parser(
            "excursion-decide", help="Decide on an excursion's kits: usable or destroyed."
        )
        decide.add_argument("study", metavar="STUDY")
        decide.add_argument("excursion", type=int, metavar="EXCURSION")
        decide.add_argument("--decision", required=True, choices=ExcursionDecision.values)
        decide.add_argument("--reason", required=True, help="E.g. the stability data consulted.")
        decide.add_argument("--kits", default="", help="Some kits only (default: all waiting).")
        # Assignment, dispensing, returns, destruction, accountability, resupply.
        add_dispensing_actions(actions)

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] in ACTIONS:  # assignment, dispensing, accountability, resupply
            try:
                run_dispensing_action(options["action"], options, self.stdout)
            except CarnetError as error:
                raise CommandError(str(error)) from error
            return
        study = Study.objects.filter(identifier=options["study"]).first()
        if study is None:
            raise CommandError(f"There is no study {options['study']}.")
        self.actor = SystemActor.command_line(f"carnet pharmacy {options['action']}")
        try:
            getattr(self, "_" + options["action"].replace("-", "_"))(study, options)
        except CarnetError as error:
            raise CommandError(str(error)) from error

    def _batch(self, study: Study, number: str) -> Batch:
        batch = Batch.objects.filter(
            study=study, environment=environment_written(study), number=number
        ).first()
        if batch is None:
            raise CommandError(f"There is no batch {number} in {study.identifier}.")
        return batch

    def _site(self, study: Study, code: str) -> StudySite:
        site = StudySite.objects.filter(study=study, code=code).first()
        if site is None:
            raise CommandError(f"There is no site {code} in {study.identifier}.")
        return site

    def _shipment(self, study: Study, number: str) -> Shipment:
        shipment = Shipment.objects.filter(
            study=study, environment=environment_written(study), number=number
        ).first()
        if shipment is None:
            raise CommandError(f"There is no shipment {number} in {study.identifier}.")
        return shipment

    def _batches(self, study: Study, options: dict[str, Any]) -> None:
        if options["add"]:
            if not options["product"] or not options["expiry"]:
                raise CommandError("--add needs --product and --expiry.")
            batch_create(
                actor=self.actor,
                study=study,
                product=options["product"],
                number=options["add"],
                expiry=options["expiry"],
                released_on=options["released_on"],
            )
        if options["release"]:
            if not options["released_on"]:
                raise CommandError("--release needs --released-on.")
            batch_release(
                actor=self.actor,
                batch=self._batch(study, options["release"]),
                released_on=options["released_on"],
            )
        writer = csv.writer(self.stdout)
        writer.writerow(["product", "batch", "expiry", "released_on", "kits"])
        for batch in Batch.objects.filter(
            study=study, environment=environment_written(study)
        ).order_by("product", "number"):
            writer.writerow(
                [
                    batch.product,
                    batch.number,
                    batch.expiry.isoformat(),
                    batch.released_on.isoformat() if batch.released_on else "",
                    batch.kits.count(),
                ]
            )

    def _kits_import(self, study: Study, options: dict[str, Any]) -> None:
        path: Path = options["file"]
        try:
            content = path.read_bytes()
            checksum = options["sha256"] or Path(f"{path}.sha256").read_text("utf-8")
        except OSError as error:
            raise CommandError(f"{error.filename}: {error.strerror}") from error
        added = kits_import(
            actor=self.actor, study=study, content=content, checksum=checksum, file_name=path.name
        )
        self.stdout.write(f"{added} kits imported from {path.name}.")

    def _kits_generate(self, study: Study, options: dict[str, Any]) -> None:
        listed = kits_generate(
            actor=self.actor,
            study=study,
            batch=self._batch(study, options["batch"]),
            per_content=options["per_arm"],
            pattern=options["pattern"],
        )
        with options["output"].open("w", encoding="utf-8", newline="") as file:
            writer = csv.writer(file)
            writer.writerow(["kit", "batch", "content", "expiry"])
            for kit in listed:
                writer.writerow([kit.number, kit.batch, kit.content, kit.expiry.isoformat()])
        self.stdout.write(f"{len(listed)} kits generated; their list: {options['output']}.")

    def _relabel(self, study: Study, options: dict[str, Any]) -> None:
        kits = kits_relabel(
            actor=self.actor,
            study=study,
            expiry=options["expiry"],
            reason=options["reason"],
            numbers=kit_numbers(options["kits"]),
            batch=self._batch(study, options["batch"]) if options["batch"] else None,
        )
        self.stdout.write(f"{len(kits)} kits relabelled to {options['expiry'].isoformat()}.")

    def _shipment_create(self, study: Study, options: dict[str, Any]) -> None:
        site = self._site(study, options["site"])
        shipment = shipment_create(
            actor=self.actor,
            study=study,
            site=site,
            numbers=kit_numbers(options["kits"]),
            today=site_today(site),
        )
        self.stdout.write(f"{shipment.number}")

    def _shipment_send(self, study: Study, options: dict[str, Any]) -> None:
        shipment = shipment_send(
            actor=self.actor, shipment=self._shipment(study, options["shipment"])
        )
        self.stdout.write(f"{shipment.number} sent: {shipment.kits.count()} kits in transit.")

    def _receive(self, study: Study, options: dict[str, Any]) -> None:
        shipment = self._shipment(study, options["shipment"])
        for number in kit_numbers(options["kits"]):
            shipment_receive_kit(actor=self.actor, shipment=shipment, number=number)
            self.stdout.write(f"{number} received.")
        for entry in options["damaged"]:
            number, _sep, note = entry.partition(":")
            shipment_receive_kit(
                actor=self.actor, shipment=shipment, number=number, damaged=True, note=note
            )
            self.stdout.write(f"{number} received damaged.")
        if options["close"]:
            shipment_receipt_close(
                actor=self.actor,
                shipment=shipment,
                temperature_record=options["temperature_record"],
                temperature_ok=not options["temperature_out"],
            )
            self.stdout.write(f"{shipment.number}: receipt closed.")

    def _excursion(self, study: Study, options: dict[str, Any]) -> None:
        excursion = excursion_report(
            actor=self.actor,
            study=study,
            site=self._site(study, options["site"]),
            numbers=kit_numbers(options["kits"]),
            shipment=self._shipment(study, options["shipment"]) if options["shipment"] else None,
            description=options["description"],
            minimum_temperature=options["minimum"],
            maximum_temperature=options["maximum"],
            duration_minutes=options["minutes"],
        )
        self.stdout.write(f"Excursion {excursion.pk}: {excursion.kits.count()} kits quarantined.")

    def _excursion_decide(self, study: Study, options: dict[str, Any]) -> None:
        excursion = Excursion.objects.filter(study=study, pk=options["excursion"]).first()
        if excursion is None:
            raise CommandError(f"There is no excursion {options['excursion']}.")
        decided = excursion_decide(
            actor=self.actor,
            excursion=excursion,
            decision=options["decision"],
            reason=options["reason"],
            numbers=kit_numbers(options["kits"]),
        )
        self.stdout.write(f"Excursion {decided.pk}: {decided.status}.")
