"""`carnet redcap dictionary-import|dictionary-export|records-import`: bring a REDCap project
over (its data dictionary, events and records) and give a study back as a data dictionary."""

from __future__ import annotations

import argparse
from datetime import date
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils.translation import gettext as _

from carnet.accounts.models import StudySite
from carnet.audit.services import SystemActor
from carnet.core.clock import utc_today
from carnet.core.errors import CarnetError
from carnet.redcap.dictionary import dictionary_csv, dictionary_import, dictionary_rows
from carnet.redcap.formats import RedcapError, parse_data
from carnet.redcap.project import RedcapProject
from carnet.redcap.services import records_import, records_include
from carnet.studies.definition.loading import study_text_validate
from carnet.studies.models import Study

# The largest file read (a dictionary, a records export): anything bigger is a mistake.
MAX_BYTES = 512 * 1024 * 1024


def _read(path: Path | None) -> str | None:
    if path is None:
        return None
    try:
        if path.stat().st_size > MAX_BYTES:
            raise CommandError(_("%(file)s is larger than 512 MB.") % {"file": path})
        return path.read_text(encoding="utf-8-sig")
    except OSError as error:
        raise CommandError(
            _("Cannot read %(file)s: %(error)s") % {"file": path, "error": error.strerror}
        ) from error


class Command(BaseCommand):
    help = (
        "Bring a REDCap project to Carnet: its data dictionary (and events) as a study "
        "definition, its records into the study; or write a study as a data dictionary."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        made = actions.add_parser(
            "dictionary-import",
            help="Write a study definition YAML from a REDCap data dictionary CSV.",
        )
        made.add_argument("dictionary", type=Path, metavar="DICTIONARY.csv")
        made.add_argument("--identifier", required=True, help="The new study's identifier.")
        made.add_argument("--title", default="", help="The study's title.")
        made.add_argument(
            "--language",
            choices=("en", "fr"),
            default="en",
            help="The language of the dictionary's labels.",
        )
        made.add_argument(
            "--identifiers",
            choices=("refuse", "identifying"),
            default="refuse",
            help="Identifier fields: left out (default), or kept as identifying "
            "items (encrypted, never exported).",
        )
        made.add_argument("--events", type=Path, help="The project's events CSV.")
        made.add_argument("--mapping", type=Path, help="The instrument-event mapping CSV.")
        made.add_argument("--arms", type=Path, help="The project's arms CSV.")
        made.add_argument(
            "--repeating", type=Path, help="The repeating instruments and events CSV."
        )
        made.add_argument("--output", type=Path, required=True, metavar="STUDY.yaml")
        export = actions.add_parser(
            "dictionary-export", help="Write a study's current definition as a data dictionary."
        )
        export.add_argument("study", metavar="STUDY")
        export.add_argument("--output", type=Path, required=True, metavar="DICTIONARY.csv")
        records = actions.add_parser(
            "records-import",
            help="Import REDCap records (flat CSV or JSON export) into the study's subjects.",
        )
        records.add_argument("study", metavar="STUDY")
        records.add_argument("records", type=Path, metavar="RECORDS.csv")
        records.add_argument("--reason", required=True, help="Why, for the audit trail.")
        records.add_argument(
            "--overwrite",
            action="store_true",
            help="Blank cells erase stored values (REDCap's overwrite).",
        )
        records.add_argument(
            "--include-at",
            metavar="SITE",
            help="Include first, at this site, the records that are not subjects yet "
            "(a migration; the study numbers subjects {seq}).",
        )
        records.add_argument(
            "--included-on",
            type=date.fromisoformat,
            metavar="YYYY-MM-DD",
            help="Their inclusion (and consent) date (default: today).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        if action == "dictionary-import":
            self._dictionary_import(options)
        elif action == "dictionary-export":
            self._dictionary_export(options)
        else:
            self._records_import(options)

    def _dictionary_import(self, options: dict[str, Any]) -> None:
        text = _read(options["dictionary"])
        assert text is not None
        made = dictionary_import(
            text,
            identifier=options["identifier"],
            title=options["title"],
            language=options["language"],
            identifiers=options["identifiers"],
            events=_read(options["events"]),
            mapping=_read(options["mapping"]),
            arms=_read(options["arms"]),
            repeating=_read(options["repeating"]),
        )
        output: Path = options["output"]
        yaml = made.yaml()
        try:
            output.write_text(yaml, encoding="utf-8")
        except OSError as error:
            raise CommandError(
                _("Cannot write %(file)s: %(error)s") % {"file": output, "error": error.strerror}
            ) from error
        for entry in made.not_carried:
            self.stdout.write(_("Not carried over: %(what)s") % {"what": entry})
        _definition, findings = study_text_validate(yaml, name=output.name)
        errors = [finding for finding in findings if finding.severity == "error"]
        for finding in errors:
            self.stdout.write(str(finding))
        self.stdout.write(
            _(
                "%(file)s written: %(forms)s forms, %(events)s events; %(count)s things not "
                "carried over, %(errors)s errors (carnet study validate %(file)s)."
            )
            % {
                "file": output,
                "forms": len(made.data["forms"]),
                "events": len(made.data["events"]),
                "count": len(made.not_carried),
                "errors": len(errors),
            }
        )

    def _dictionary_export(self, options: dict[str, Any]) -> None:
        study = _study(options["study"])
        assert study.current_version is not None
        rows = dictionary_rows(study.current_version.parsed(), unblinded=True)
        output: Path = options["output"]
        try:
            output.write_text(dictionary_csv(rows), encoding="utf-8")
        except OSError as error:
            raise CommandError(
                _("Cannot write %(file)s: %(error)s") % {"file": output, "error": error.strerror}
            ) from error
        self.stdout.write(
            _("%(file)s: the data dictionary of %(study)s (%(count)s fields).")
            % {"file": output, "study": study.identifier, "count": len(rows)}
        )

    def _records_import(self, options: dict[str, Any]) -> None:
        study = _study(options["study"])
        assert study.current_version is not None
        path: Path = options["records"]
        text = _read(path)
        assert text is not None
        reason = options["reason"].strip()
        if not reason:
            raise CommandError(_("Give the reason for the audit trail (--reason)."))
        try:
            rows = parse_data(text, "json" if path.suffix.lower() == ".json" else "csv")
            project = RedcapProject(study.current_version.parsed(), unblinded=True)
            actor = SystemActor.command_line("carnet redcap records-import")
            with transaction.atomic():
                included = self._include(options, actor, study, rows)
                imported = records_import(
                    actor=actor,
                    study=study,
                    project=project,
                    rows=rows,
                    overwrite=options["overwrite"],
                    reason=reason,
                )
        except RedcapError as error:
            raise CommandError(error.message) from error
        except CarnetError as error:
            raise CommandError(str(error)) from error
        if included:
            self.stdout.write(_("%(count)s subjects included.") % {"count": len(included)})
        self.stdout.write(
            _("%(count)s records imported into %(study)s.")
            % {"count": imported.count, "study": study.identifier}
        )

    def _include(
        self, options: dict[str, Any], actor: SystemActor, study: Study, rows: list[dict[str, str]]
    ) -> list[Any]:
        if not options["include_at"]:
            return []
        site = StudySite.objects.filter(study=study, code=options["include_at"]).first()
        if site is None:
            raise CommandError(
                _("%(study)s has no site %(site)s.")
                % {"study": study.identifier, "site": options["include_at"]}
            )
        return records_include(
            actor=actor,
            study=study,
            site=site,
            rows=rows,
            included_on=options["included_on"] or utc_today(),
        )


def _study(identifier: str) -> Study:
    study = Study.objects.filter(identifier=identifier).select_related("current_version").first()
    if study is None or study.current_version is None:
        raise CommandError(_("No published study %(study)s.") % {"study": identifier})
    return study
