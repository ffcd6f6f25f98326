"""The `carnet biobank` actions of labels, aliquots and storage (aliquot, labels, scan, freezer,
box, store, move, take-out, freezer-failure), mixed into the command
(carnet/biobank/management/commands/biobank.py); writes audited as the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from carnet.audit.services import SystemActor
from carnet.biobank import storage
from carnet.biobank.aliquots import sample_aliquot
from carnet.biobank.labels import LAYOUTS, labels_html, labels_pdf
from carnet.biobank.models import Box, Freezer, Rack, Sample
from carnet.studies.models import Study


def _actor(action: str) -> SystemActor:
    return SystemActor.command_line(f"carnet biobank {action}")


STORAGE_ACTIONS = frozenset(
    {"aliquot", "labels", "scan", "freezer", "box", "store", "move", "take-out", "freezer-failure"}
)


class StorageActions(BaseCommand):
    """Label, aliquot and store a study's samples; freezers, boxes and freezer failures."""

    def add_storage_actions(self, actions: Any) -> None:
        aliquot = actions.add_parser(
            "aliquot", help="Divide a sample into tubes of the given volumes (audited)."
        )
        aliquot.add_argument("study", metavar="STUDY")
        aliquot.add_argument("sample", metavar="SAMPLE")
        aliquot.add_argument(
            "--volumes", nargs="+", required=True, help="Each tube's volume, in the parent's unit."
        )
        aliquot.add_argument("--container", default="", help="The tubes' container.")
        labels = actions.add_parser(
            "labels", help="Write the samples' labels (PDF, or HTML by extension)."
        )
        labels.add_argument("study", metavar="STUDY")
        labels.add_argument("samples", nargs="+", metavar="SAMPLE")
        labels.add_argument("--children", action="store_true", help="With their aliquots.")
        labels.add_argument("--layout", choices=LAYOUTS, default="sheet")
        labels.add_argument("--copies", type=int, default=1)
        labels.add_argument("--output", required=True, type=Path, help="A .pdf or .html file.")
        scan = actions.add_parser("scan", help="Print the sample a label names, and its place.")
        scan.add_argument("study", metavar="STUDY")
        scan.add_argument("code", metavar="CODE")
        freezer = actions.add_parser(
            "freezer", help="Print the freezers and their capacity, or add one with --add."
        )
        freezer.add_argument("study", metavar="STUDY")
        freezer.add_argument("--add", metavar="NAME", help="The new freezer's name.")
        freezer.add_argument("--centre", help="With --add: the centre's code.")
        freezer.add_argument("--temperature", type=int, help="With --add: °C, e.g. -80.")
        box = actions.add_parser(
            "box", help="Print a box's map, or add it (and its rack) with --rows and --columns."
        )
        box.add_argument("study", metavar="STUDY")
        for name in ("freezer", "rack", "box"):
            box.add_argument(name, metavar=name.upper())
        box.add_argument("--rows", type=int)
        box.add_argument("--columns", type=int)
        for name, text in (
            ("store", "Put a sample away in a box (audited)."),
            ("move", "Move a stored sample to another box or position (audited)."),
        ):
            place = actions.add_parser(name, help=text)
            place.add_argument("study", metavar="STUDY")
            place.add_argument("sample", metavar="SAMPLE")
            for part in ("freezer", "rack", "box"):
                place.add_argument(part, metavar=part.upper())
            place.add_argument("--position", default="", help="e.g. C4; default: the first free.")
            place.add_argument("--reason", default="")
        take_out = actions.add_parser("take-out", help="Take a sample out of its box (audited).")
        take_out.add_argument("study", metavar="STUDY")
        take_out.add_argument("sample", metavar="SAMPLE")
        take_out.add_argument("--reason", required=True)
        failure = actions.add_parser(
            "freezer-failure",
            help="Record a freezer's failure: move all its samples to another freezer (audited).",
        )
        failure.add_argument("study", metavar="STUDY")
        failure.add_argument("freezer", metavar="FREEZER")
        failure.add_argument("--to", required=True, help="The freezer receiving the samples.")
        failure.add_argument("--reason", required=True)

    # --- helpers ---

    def _sample(self, study: Study, identifier: str, action: str) -> Sample:
        return storage.sample_for_actor(_actor(action), study, identifier)

    def _find_freezer(self, study: Study, name: str, action: str) -> Freezer:
        found = Freezer.objects.filter(
            name=name, centre__in=storage.centres_of(_actor(action), study)
        )
        if found.count() != 1:
            raise CommandError(f"There is no single freezer named {name} at the study's centres.")
        return found.get()

    def _find_box(self, study: Study, options: dict[str, Any]) -> Box:
        freezer = self._find_freezer(study, options["freezer"], options["action"])
        box = Box.objects.filter(
            rack__freezer=freezer, rack__name=options["rack"], name=options["box"]
        ).first()
        if box is None:
            raise CommandError(
                f"There is no box {options['box']} in rack {options['rack']} of {freezer.name}."
            )
        return box

    # --- actions ---

    def _aliquot(self, study: Study, options: dict[str, Any]) -> None:
        sample = self._sample(study, options["sample"], "aliquot")
        tubes = sample_aliquot(
            actor=_actor("aliquot"),
            sample=sample,
            volumes=options["volumes"],
            container=options["container"],
        )
        for tube in tubes:
            self.stdout.write(
                f"{tube.identifier}\t{tube.volume.normalize() if tube.volume else ''}"
            )

    def _labels(self, study: Study, options: dict[str, Any]) -> None:
        samples: list[Sample] = []
        for identifier in options["samples"]:
            sample = self._sample(study, identifier, "labels")
            samples.append(sample)
            if options["children"]:
                samples += list(sample.children.order_by("identifier"))
        output: Path = options["output"]
        layout, copies = options["layout"], options["copies"]
        if output.suffix.lower() == ".html":
            output.write_text(labels_html(samples, layout=layout, copies=copies), encoding="utf-8")
        else:
            output.write_bytes(labels_pdf(samples, layout=layout, copies=copies))
        self.stdout.write(f"Wrote {len(samples) * copies} labels to {output}.")

    def _scan(self, study: Study, options: dict[str, Any]) -> None:
        found = storage.sample_scan(_actor("scan"), study, options["code"])
        sample = found.sample
        volume = f"{sample.volume.normalize()} {sample.unit}" if sample.volume is not None else ""
        self.stdout.write(
            f"{sample.identifier}\t{sample.sample_type}\t{sample.status}\t{volume}\t"
            f"{found.place or 'not stored'}"
        )

    def _freezer(self, study: Study, options: dict[str, Any]) -> None:
        actor = _actor("freezer")
        if options["add"]:
            centre = storage.centres_of(actor, study).filter(code=options["centre"] or "").first()
            if centre is None or options["temperature"] is None:
                raise CommandError("Give --centre (a centre of the study) and --temperature.")
            storage.freezer_create(
                actor=actor,
                study=study,
                centre=centre,
                name=options["add"],
                temperature=options["temperature"],
            )
        for use in storage.freezers_for_actor(actor, study):
            self.stdout.write(
                f"{use.freezer.name}\t{use.freezer.centre.code}\t{use.freezer.temperature} °C\t"
                f"{use.used}/{use.total}\t{use.freezer.status}"
            )

    def _box(self, study: Study, options: dict[str, Any]) -> None:
        actor = _actor("box")
        if options["rows"] is not None or options["columns"] is not None:
            freezer = self._find_freezer(study, options["freezer"], "box")
            rack = Rack.objects.filter(freezer=freezer, name=options["rack"]).first()
            if rack is None:
                rack = storage.rack_create(
                    actor=actor, study=study, freezer=freezer, name=options["rack"]
                )
            storage.box_create(
                actor=actor,
                study=study,
                rack=rack,
                name=options["box"],
                rows=options["rows"] or 0,
                columns=options["columns"] or 0,
            )
        box = self._find_box(study, options)
        grid = storage.box_map(actor, study, box)
        self.stdout.write(f"{box.name}: {grid.used}/{box.capacity}")
        for letter, cells in grid.rows:
            self.stdout.write(
                letter
                + "\t"
                + "\t".join(cell.identifier or ("x" if cell.occupied else ".") for cell in cells)
            )

    def _store(self, study: Study, options: dict[str, Any]) -> None:
        sample = self._sample(study, options["sample"], "store")
        placed = storage.sample_store(
            actor=_actor("store"),
            sample=sample,
            box=self._find_box(study, options),
            position=options["position"] or None,
        )
        place = storage.place_of(placed.box, placed.row, placed.column)
        self.stdout.write(f"Stored {sample.identifier} at {place}.")

    def _move(self, study: Study, options: dict[str, Any]) -> None:
        sample = self._sample(study, options["sample"], "move")
        placed = storage.sample_move(
            actor=_actor("move"),
            sample=sample,
            box=self._find_box(study, options),
            position=options["position"] or None,
            reason=options["reason"],
        )
        place = storage.place_of(placed.box, placed.row, placed.column)
        self.stdout.write(f"Moved {sample.identifier} to {place}.")

    def _take_out(self, study: Study, options: dict[str, Any]) -> None:
        sample = self._sample(study, options["sample"], "take-out")
        storage.sample_take_out(actor=_actor("take-out"), sample=sample, reason=options["reason"])
        self.stdout.write(f"Took {sample.identifier} out.")

    def _freezer_failure(self, study: Study, options: dict[str, Any]) -> None:
        failure = storage.freezer_failure_record(
            actor=_actor("freezer-failure"),
            study=study,
            freezer=self._find_freezer(study, options["freezer"], "freezer-failure"),
            moved_to=self._find_freezer(study, options["to"], "freezer-failure"),
            reason=options["reason"],
        )
        self.stdout.write(
            f"Moved {failure.samples_moved} samples from {failure.freezer.name} "
            f"to {failure.moved_to.name}."
        )
