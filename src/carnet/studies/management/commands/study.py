"""`carnet study …`: validate, load, compare, publish and inspect study definitions."""

from __future__ import annotations

import argparse
import getpass
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from carnet.audit.services import SystemActor
from carnet.core.errors import CarnetError
from carnet.studies.definition import (
    StudyDefinition,
    StudyFileError,
    study_file_read,
    study_text_validate,
)
from carnet.studies.definition.diff import definition_diff
from carnet.studies.definition.outline import outline, report_lines
from carnet.studies.definition.validation import study_schema
from carnet.studies.models import StudyMode
from carnet.studies.selectors import studies_list, study_get, study_version_get
from carnet.studies.services import study_load, study_publish
from carnet.studies.signing import MODE_CHANGE_MEANING, mode_signing

# Readers of other formats a study definition is imported from (`carnet study import-odm`).
# Interop registers its ODM reader in its AppConfig.ready: studies imports no higher part. A
# reader takes the file and the identifier asked for (or "") and returns the YAML text and what
# it could not carry over, one line per element; it refuses a file with a CarnetError.
StudyFileImporter = Callable[[Path, str], tuple[str, list[str]]]
STUDY_FILE_IMPORTERS: dict[str, StudyFileImporter] = {}


def register_study_file_importer(name: str, importer: StudyFileImporter) -> None:
    """Make ``carnet study import-<name>`` read files with ``importer``."""
    STUDY_FILE_IMPORTERS[name] = importer


VERSION_REFERENCE = re.compile(r"^(?P<study>[A-Z0-9][A-Z0-9_-]+):(?P<number>\d+)$")


class Command(BaseCommand):
    help = "Validate, load, compare, publish and inspect study definitions (study-as-code YAML)."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        validate = actions.add_parser(
            "validate",
            help="Check a study file; print every error and warning with file, line and YAML path.",
        )
        validate.add_argument("file", type=Path, help="The study's YAML file.")
        load = actions.add_parser(
            "load",
            help="Load a study file: a new study, an updated draft, or an amendment with its "
            "migration report. All or nothing.",
        )
        load.add_argument("file", type=Path, help="The study's YAML file.")
        diff = actions.add_parser(
            "diff", help="Show what changed between two study files or stored versions."
        )
        diff.add_argument("old", help="A YAML file, or STUDY:N for a stored version.")
        diff.add_argument("new", help="A YAML file, or STUDY:N for a stored version.")
        publish = actions.add_parser(
            "publish", help="Publish the study's draft version (immutable from then on)."
        )
        publish.add_argument("study", help="The study identifier.")
        mode = actions.add_parser(
            "mode",
            help="Move the study to design, test, production, frozen or locked, with a reason "
            "and the e-signature of a person who manages the study.",
        )
        mode.add_argument("study", help="The study identifier.")
        mode.add_argument("mode", choices=StudyMode.values, help="The new mode.")
        mode.add_argument("--reason", default="", help="Why; kept in the audit trail (required).")
        mode.add_argument(
            "--signer",
            required=True,
            help="The user name of the person who signs the change (a manager of the study).",
        )
        mode.add_argument(
            "--password-stdin",
            action="store_true",
            help="Read the signer's password from standard input (else it is asked for).",
        )
        mode.add_argument(
            "--totp-code", default="", help="The signer's authenticator code, when enrolled."
        )
        mode.add_argument(
            "--meaning",
            default=MODE_CHANGE_MEANING,
            help="The meaning of the signature, from the study's list (default: %(default)s).",
        )
        actions.add_parser("list", help="List studies: identifier, title, mode, current version.")
        show = actions.add_parser(
            "show", help="Print a study's outline: events, forms, items, rules, schedule grid."
        )
        show.add_argument("study", help="A study identifier, or a YAML file.")
        show.add_argument("--version", type=int, help="A stored version (default: current).")
        show.add_argument(
            "--language", choices=["en", "fr"], default="en", help="Labels' language."
        )
        actions.add_parser("schema", help="Print the JSON Schema of the study format.")
        import_odm = actions.add_parser(
            "import-odm",
            help="Write a study file (YAML) from a CDISC ODM 1.3.2 file's metadata and list, "
            "element by element, what it could not carry over.",
        )
        import_odm.add_argument("file", type=Path, help="The ODM 1.3.2 XML file.")
        import_odm.add_argument(
            "--output", type=Path, help="The YAML file to write (default: FILE with .yaml)."
        )
        import_odm.add_argument(
            "--identifier", default="", help="The study's identifier (default: from its OID)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            getattr(self, f"_{options['action'].replace('-', '_')}")(options)
        except StudyFileError as error:
            for finding in error.findings:
                self.stdout.write(str(finding))
            errors = sum(finding.severity == "error" for finding in error.findings)
            warnings = len(error.findings) - errors
            raise CommandError(
                f"{errors} error{'s' if errors != 1 else ''} and {warnings} warning"
                f"{'s' if warnings != 1 else ''}; nothing was written."
            ) from error
        except CarnetError as error:
            raise CommandError(str(error)) from error

    def _actor(self, action: str) -> SystemActor:
        return SystemActor.command_line(f"carnet study {action}")

    def _validate(self, options: dict[str, Any]) -> None:
        study_file = study_file_read(options["file"])
        for finding in study_file.warnings:
            self.stdout.write(str(finding))
        d = study_file.definition
        rules = sum(len(form.checks) for form in d.forms) + len(d.eligibility)
        rules += sum(1 for _, _, item in d.items() if item.show_if or item.calculation)
        self.stdout.write(
            f"{options['file']} is a valid study: {d.identifier}, {len(d.events)} events, "
            f"{len(d.forms)} forms, {len(d.items())} items, {rules} rules, "
            f"{len(study_file.warnings)} warnings."
        )

    def _load(self, options: dict[str, Any]) -> None:
        study_file = study_file_read(options["file"])
        for finding in study_file.warnings:
            self.stdout.write(str(finding))
        outcome = study_load(
            actor=self._actor("load"), study_file=study_file, source_name=str(options["file"])
        )
        study, version = outcome.study, outcome.version
        messages = {
            "created": f"Created {study.identifier} with draft version {version.number}.",
            "draft updated": f"Updated draft version {version.number} of {study.identifier}.",
            "amendment": f"Drafted amendment: version {version.number} of {study.identifier}.",
            "unchanged": f"{study.identifier} version {version.number} already has this content.",
        }
        self.stdout.write(messages[outcome.outcome])
        if outcome.report is not None and outcome.outcome != "unchanged":
            for line in report_lines(outcome.report):
                self.stdout.write(line)
        if outcome.outcome != "unchanged":
            self.stdout.write(f"Publish it with: carnet study publish {study.identifier}")

    def _definition(self, reference: str) -> StudyDefinition:
        match = VERSION_REFERENCE.match(reference)
        if match and not Path(reference).exists():
            study = study_get(match["study"])
            return study_version_get(study, int(match["number"])).parsed()
        return study_file_read(Path(reference)).definition

    def _diff(self, options: dict[str, Any]) -> None:
        changes = definition_diff(
            self._definition(options["old"]), self._definition(options["new"])
        )
        if not changes:
            self.stdout.write("No difference.")
            return
        for change in changes:
            self.stdout.write(str(change))
        self.stdout.write(f"{len(changes)} changes.")

    def _publish(self, options: dict[str, Any]) -> None:
        version = study_publish(actor=self._actor("publish"), study=study_get(options["study"]))
        self.stdout.write(
            f"Published {version.study.identifier} version {version.number} "
            f"(SHA-256 {version.source_sha256[:16]}…); it can no longer change."
        )

    def _password(self, options: dict[str, Any]) -> str:
        if options["password_stdin"]:
            return sys.stdin.readline().rstrip("\n")
        if not sys.stdin.isatty():
            raise CommandError("Give --password-stdin when not at a terminal.")
        return getpass.getpass(f"Password of {options['signer']} (e-signature): ")

    def _mode(self, options: dict[str, Any]) -> None:
        # A change of mode is a person's signed act, not the system's: the signer is the actor.
        # Accounts finds the signer and signs (studies/signing.py).
        signing = mode_signing()
        signer = signing.signer(options["signer"])  # a deactivated account's password is refused
        study = signing.change(
            actor=signer,
            study=study_get(options["study"]),
            mode=options["mode"],
            reason=options["reason"],
            password=self._password(options),
            totp_code=options["totp_code"],
            meaning=options["meaning"],
        )
        self.stdout.write(
            f"{study.identifier} is now in {study.mode} mode, signed by {signer.display_name()}."
        )

    def _list(self, options: dict[str, Any]) -> None:
        studies = list(studies_list())
        if not studies:
            self.stdout.write("No study yet; load one with: carnet study load FILE")
            return
        rows = [("IDENTIFIER", "TITLE", "MODE", "VERSION")]
        for study in studies:
            version = study.current_version
            latest = study.versions.order_by("-number").first()
            shown = version or latest
            title = shown.title if shown else ""
            current = f"v{version.number}" if version else "none published"
            if latest and latest.status == "draft":
                current += f" (draft v{latest.number})"
            rows.append((study.identifier, title, study.mode, current))
        widths = [max(len(row[i]) for row in rows) for i in range(3)]
        for row in rows:
            self.stdout.write(
                "  ".join(cell.ljust(width) for cell, width in zip(row[:3], widths, strict=True))
                + "  "
                + row[3]
            )

    def _show(self, options: dict[str, Any]) -> None:
        reference = options["study"]
        if Path(reference).is_file():
            definition = study_file_read(Path(reference)).definition
            heading = f"File {reference}"
        else:
            study = study_get(reference)
            version = study_version_get(study, options["version"])
            definition = version.parsed()
            heading = f"Version {version.number} ({version.status}), study in {study.mode} mode"
        self.stdout.write(heading)
        for line in outline(definition, language=options["language"]):
            self.stdout.write(line)

    def _schema(self, options: dict[str, Any]) -> None:
        self.stdout.write(json.dumps(study_schema(), indent=2, ensure_ascii=False))

    def _import_odm(self, options: dict[str, Any]) -> None:
        importer = STUDY_FILE_IMPORTERS.get("odm")
        if importer is None:
            raise CommandError(_("No ODM reader is installed (the interop app)."))
        source: Path = options["file"]
        output: Path = options["output"] or source.with_suffix(".yaml")
        text, not_carried = importer(source, options["identifier"])
        definition, findings = study_text_validate(text, name=str(output))
        for line in not_carried:
            self.stdout.write(_("Not carried over: %(what)s") % {"what": line})
        for finding in findings:
            self.stdout.write(str(finding))
        if definition is None:
            raise CommandError(
                _("The study read from %(file)s does not validate; nothing was written.")
                % {"file": source}
            )
        output.write_text(text, encoding="utf-8")
        self.stdout.write(
            _(
                "%(output)s: study %(study)s with %(events)s events, %(forms)s forms, "
                "%(items)s items; %(count)s things not carried over (listed above). "
                "Check it with: carnet study validate %(output)s"
            )
            % {
                "output": output,
                "study": definition.identifier,
                "events": len(definition.events),
                "forms": len(definition.forms),
                "items": len(definition.items()),
                "count": len(not_carried),
            }
        )
