"""`carnet coding load-meddra|load-whodrug|dictionaries|target|queue|ctcae|recode`: medical
coding from the server (writes audited as the command line)."""

from __future__ import annotations

import argparse
import csv
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from carnet.audit.services import SystemActor
from carnet.coding import selectors
from carnet.coding.models import CodedTerm, DictionaryKind
from carnet.coding.services import (
    coding_target_set,
    meddra_load,
    recode_apply,
    recode_impact,
    whodrug_load,
)
from carnet.core.errors import CarnetError
from carnet.studies.models import Study


def _study(identifier: str) -> Study:
    found = Study.objects.filter(identifier=identifier).first()
    if found is None:
        raise CommandError(f"No study {identifier}.")
    return found


class Command(BaseCommand):
    help = "Load MedDRA and WHODrug versions, set what a study codes, list terms, recode."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        for name, text in (
            ("load-meddra", "Load a MedDRA version from its ASCII files (llt.asc …)."),
            ("load-whodrug", "Load a WHODrug version from its B3 text files (DD.txt …)."),
        ):
            load = actions.add_parser(name, help=text)
            load.add_argument("folder", type=Path, metavar="DIR")
            load.add_argument("--version", required=True, help="The dictionary's version.")
        listing = actions.add_parser("dictionaries", help="Print the loaded versions as CSV.")
        listing.add_argument("--kind", choices=DictionaryKind.values)
        target = actions.add_parser(
            "target", help="Code a form's item against a dictionary version (audited)."
        )
        target.add_argument("study", metavar="STUDY")
        target.add_argument("--form", required=True)
        target.add_argument("--item", required=True)
        target.add_argument("--kind", required=True, choices=DictionaryKind.values)
        target.add_argument("--version", required=True)
        queue = actions.add_parser("queue", help="Print a study's coded terms as CSV.")
        queue.add_argument("study", metavar="STUDY")
        queue.add_argument("--status", default="", help="uncoded, auto, coded or queried.")
        ctcae = actions.add_parser("ctcae", help="Print the MedDRA LLT of CTCAE v5 terms.")
        ctcae.add_argument("terms", nargs="+", metavar="TERM")
        ctcae.add_argument("--version", required=True, help="The MedDRA version.")
        recode = actions.add_parser(
            "recode", help="Print the impact of a new version; with --apply, recode (audited)."
        )
        recode.add_argument("study", metavar="STUDY")
        recode.add_argument("--form", required=True)
        recode.add_argument("--item", required=True)
        recode.add_argument("--version", required=True, help="The new version.")
        recode.add_argument("--apply", action="store_true", help="Recode, after the impact.")
        recode.add_argument("--reason", default="", help="Why (required with --apply).")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            getattr(self, "_" + options["action"].replace("-", "_"))(options)
        except CarnetError as error:
            raise CommandError(str(error)) from error

    def _load_meddra(self, options: dict[str, Any]) -> None:
        loaded = meddra_load(
            actor=SystemActor.command_line("carnet coding load-meddra"),
            folder=options["folder"],
            version=options["version"],
        )
        self.stdout.write(f"Loaded {loaded}: {loaded.terms} lowest level terms.")

    def _load_whodrug(self, options: dict[str, Any]) -> None:
        loaded = whodrug_load(
            actor=SystemActor.command_line("carnet coding load-whodrug"),
            folder=options["folder"],
            version=options["version"],
        )
        self.stdout.write(f"Loaded {loaded}: {loaded.terms} drug names.")

    def _dictionaries(self, options: dict[str, Any]) -> None:
        writer = csv.writer(self.stdout)
        writer.writerow(["kind", "version", "terms", "loaded_at", "loaded_by"])
        for found in selectors.dictionaries_list(options["kind"]):
            writer.writerow(
                [
                    found.kind,
                    found.version,
                    found.terms,
                    found.loaded_at.isoformat(),
                    found.loaded_by,
                ]
            )

    def _target(self, options: dict[str, Any]) -> None:
        target = coding_target_set(
            actor=SystemActor.command_line("carnet coding target"),
            study=_study(options["study"]),
            form=options["form"],
            item=options["item"],
            dictionary=selectors.dictionary_by_name(options["kind"], options["version"]),
        )
        self.stdout.write(f"{options['study']}: {target} coded.")

    def _queue(self, options: dict[str, Any]) -> None:
        study = _study(options["study"])
        terms = CodedTerm.objects.filter(study=study).select_related("subject", "form_instance")
        if options["status"]:
            terms = terms.filter(status=options["status"])
        writer = csv.writer(self.stdout)
        writer.writerow(
            ["subject", "form", "item", "row", "verbatim", "status", "pt", "soc", "drug"]
        )
        for term in terms.order_by("subject__identifier", "pk"):
            writer.writerow(
                [
                    term.subject.identifier,
                    term.form_instance.form,
                    term.item,
                    term.row,
                    term.verbatim,
                    term.status,
                    term.pt_name,
                    term.soc_name,
                    term.drug_name,
                ]
            )

    def _ctcae(self, options: dict[str, Any]) -> None:
        dictionary = selectors.dictionary_by_name(DictionaryKind.MEDDRA, options["version"])
        writer = csv.writer(self.stdout)
        writer.writerow(["ctcae_term", "llt_code", "llt_current", "pt_code", "pt_name", "soc_name"])
        for term, found in selectors.ctcae_llts(dictionary, options["terms"]).items():
            if found is None:
                writer.writerow([term, "", "", "", "", ""])
            else:
                writer.writerow(
                    [
                        term,
                        found["llt_code"],
                        "Y" if found["current"] else "N",
                        found["pt_code"],
                        found["pt_name"],
                        found["soc_name"],
                    ]
                )

    def _recode(self, options: dict[str, Any]) -> None:
        study = _study(options["study"])
        target = selectors.target_of(study, options["form"], options["item"])
        dictionary = selectors.dictionary_by_name(target.dictionary.kind, options["version"])
        actor = SystemActor.command_line("carnet coding recode")
        impact = recode_impact(actor=actor, target=target, dictionary=dictionary)
        self.stdout.write(
            f"{len(impact.lines)} coded terms: {impact.changed} change PT/SOC (or drug/ATC), "
            f"{impact.not_current} no longer current or missing in {dictionary}."
        )
        for line in impact.lines:
            if line.changes:
                self.stdout.write(f"  {line.term.verbatim}: {line.reason}")
        if options["apply"]:
            recode_apply(
                actor=actor, target=target, dictionary=dictionary, reason=options["reason"]
            )
            self.stdout.write(f"Recoded against {dictionary}.")
