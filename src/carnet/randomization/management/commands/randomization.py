"""`carnet randomization generate|import|kits|verify|report`: a study's randomisation list,
its kits and its proof, in the audit trail.

The seed of a generated list is never printed: it is what keeps the next allocations concealed.
The command prints the hash of the list's entries, which the randomisation report will quote.
"""

from __future__ import annotations

import argparse
from datetime import datetime
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from carnet.accounts.models import StudySite
from carnet.audit.services import SystemActor
from carnet.core.errors import CarnetError
from carnet.randomization.kits import kits_import
from carnet.randomization.services import ListWritten, list_generate, list_import
from carnet.studies.models import Study


class Command(BaseCommand):
    help = "Generate or import a study's randomisation list (permuted blocks)."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        generate = actions.add_parser(
            "generate",
            help="Generate the list of every stratum from a seed, or extend it from its own seed.",
        )
        generate.add_argument("study", metavar="STUDY")
        generate.add_argument(
            "--per-stratum",
            type=int,
            required=True,
            metavar="N",
            help="Entries per stratum (whole blocks: a stratum may get a few more).",
        )
        generate.add_argument(
            "--seed",
            type=int,
            help="The generator's seed (default: a secret random one). Never printed.",
        )
        imported = actions.add_parser(
            "import",
            help="Import or extend the list from a CSV made by SAS or R (all lines or none).",
        )
        imported.add_argument("study", metavar="STUDY")
        imported.add_argument("file", metavar="FILE.csv", type=Path)
        imported.add_argument(
            "--sha256", required=True, help="The file's SHA-256, as its author computed it."
        )
        kits = actions.add_parser(
            "kits",
            help="Add kits (CSV: site, number, arm) to a blinded study's per-site kit list.",
        )
        kits.add_argument("study", metavar="STUDY")
        kits.add_argument("file", metavar="FILE.csv", type=Path)
        verify = actions.add_parser(
            "verify",
            help="Replay every allocation from the lists, seeds, draws and audit trail; "
            "exit 1 on any difference.",
        )
        verify.add_argument("study", metavar="STUDY")
        report = actions.add_parser(
            "report",
            help="Write the randomisation report (PDF) for the trial master file.",
        )
        report.add_argument("study", metavar="STUDY")
        report.add_argument("--output", type=Path, required=True, metavar="FILE.pdf")
        report.add_argument(
            "--unblinded",
            action="store_true",
            help="Include each subject's arm and the balance by arm (for unblinded roles only).",
        )

        self._outage_arguments(actions)

    def _outage_arguments(self, actions: Any) -> None:
        backup = actions.add_parser(
            "backup",
            help="Generate a site's sealed emergency envelopes (its backup list) for an outage.",
        )
        backup.add_argument("study", metavar="STUDY")
        backup.add_argument("--site", required=True, metavar="CODE")
        backup.add_argument("--per-stratum", type=int, required=True, metavar="N")
        backup.add_argument("--seed", type=int, help="The seed (default: a secret random one).")
        envelopes = actions.add_parser(
            "envelopes",
            help="Print a site's sealed envelopes (PDF; it holds the arms: production only).",
        )
        envelopes.add_argument("study", metavar="STUDY")
        envelopes.add_argument("--site", required=True, metavar="CODE")
        envelopes.add_argument("--output", type=Path, required=True, metavar="FILE.pdf")
        paper = actions.add_parser(
            "paper", help="Record an allocation made on paper (a sealed envelope) during an outage."
        )
        paper.add_argument("study", metavar="STUDY")
        paper.add_argument("subject", metavar="SUBJECT")
        paper.add_argument("--envelope", required=True)
        paper.add_argument(
            "--at",
            required=True,
            metavar="MOMENT",
            help="When the envelope was opened, ISO 8601 with its offset (2026-03-02T14:30+01:00).",
        )
        paper.add_argument("--by", required=True, help="Who opened the envelope.")
        paper.add_argument("--reason", required=True, help="Why the allocation was on paper.")
        paper.add_argument("--kit", default="", help="The kit dispensed, if any.")
        opened = actions.add_parser(
            "opened", help="Report an envelope found opened with no allocation recorded."
        )
        opened.add_argument("study", metavar="STUDY")
        opened.add_argument("envelope", metavar="ENVELOPE")
        opened.add_argument("--at", required=True, metavar="MOMENT")
        opened.add_argument("--note", required=True)
        reconcile = actions.add_parser(
            "reconcile",
            help="List the paper allocations against the envelopes; exit 1 on any mismatch.",
        )
        reconcile.add_argument("study", metavar="STUDY")

    def handle(self, *args: Any, **options: Any) -> None:
        study = Study.objects.filter(identifier=options["study"]).first()
        if study is None:
            raise CommandError(_("No study %(study)s.") % {"study": options["study"]})
        action = options["action"]
        if action == "verify":
            self._verify(study)
            return
        if action == "report":
            self._write_report(study, options["output"], unblinded=options["unblinded"])
            return
        if action == "reconcile":
            self._reconcile(study)
            return
        actor = SystemActor.command_line(f"carnet randomization {action}")
        if action in {"backup", "envelopes", "paper", "opened"}:
            try:
                self._outage(study, actor, action, options)
            except CarnetError as error:
                raise CommandError(str(error)) from error
            return
        if action == "kits":
            self._kits(study, actor, options["file"])
            return
        try:
            if action == "generate":
                written = list_generate(
                    actor=actor,
                    study=study,
                    per_stratum=options["per_stratum"],
                    seed=options["seed"],
                )
            else:
                path: Path = options["file"]
                try:
                    content = path.read_bytes()
                except OSError as error:
                    raise CommandError(
                        _("Cannot read %(file)s: %(error)s")
                        % {"file": path, "error": error.strerror}
                    ) from error
                written = list_import(
                    actor=actor,
                    study=study,
                    content=content,
                    sha256=options["sha256"],
                    file_name=path.name,
                )
        except CarnetError as error:
            raise CommandError(str(error)) from error
        self._report(study, written)

    def _report(self, study: Study, written: ListWritten) -> None:
        entries = written.allocation_list.entries.count()
        self.stdout.write(
            _(
                "%(study)s (%(environment)s): %(added)s entries added, %(entries)s in the list; "
                "entries SHA-256 %(sha256)s."
            )
            % {
                "study": study.identifier,
                "environment": written.allocation_list.environment,
                "added": written.added,
                "entries": entries,
                "sha256": written.sha256,
            }
        )

    def _kits(self, study: Study, actor: SystemActor, path: Path) -> None:
        try:
            content = path.read_bytes()
        except OSError as error:
            raise CommandError(
                _("Cannot read %(file)s: %(error)s") % {"file": path, "error": error.strerror}
            ) from error
        try:
            added = kits_import(actor=actor, study=study, content=content, file_name=path.name)
        except CarnetError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(
            _("%(study)s: %(added)s kits added to the kit list.")
            % {"study": study.identifier, "added": added}
        )

    def _verify(self, study: Study) -> None:
        from carnet.randomization.verification import study_randomisation_verify

        result = study_randomisation_verify(study)
        for difference in result.differences:
            self.stderr.write(str(difference))
        words = {
            "study": study.identifier,
            "allocations": result.allocations,
            "entries": result.entries,
            "differences": len(result.differences),
        }
        if not result.passed:
            raise CommandError(
                _(
                    "%(study)s: %(differences)s differences in %(allocations)s allocations and "
                    "%(entries)s list entries."
                )
                % words
            )
        self.stdout.write(
            _(
                "%(study)s: %(allocations)s allocations replayed and %(entries)s list entries "
                "checked; no difference."
            )
            % words
        )

    def _write_report(self, study: Study, output: Path, *, unblinded: bool) -> None:
        from carnet.accounts.blinding import Blinding
        from carnet.core.pdf import PANGO_PACKAGES, PdfUnavailable
        from carnet.randomization.report import randomisation_report, report_html, report_pdf

        report = randomisation_report(study=study, blinding=Blinding(unblinded=unblinded))
        try:
            pdf = report_pdf(report)
        except PdfUnavailable as missing:
            # Without Pango the same report is written as HTML, and the command says why.
            page = output.with_suffix(".html")
            page.write_text(report_html(report, standalone=True), encoding="utf-8")
            raise CommandError(
                _(
                    "No PDF: WeasyPrint could not load the system's Pango library (%(cause)s); "
                    "install %(packages)s. The report is written as HTML to %(file)s."
                )
                % {"cause": missing.cause, "packages": PANGO_PACKAGES, "file": page}
            ) from missing
        try:
            output.write_bytes(pdf)
        except OSError as error:
            raise CommandError(
                _("Cannot write %(file)s: %(error)s") % {"file": output, "error": error.strerror}
            ) from error
        self.stdout.write(
            _("%(study)s: randomisation report written to %(file)s.")
            % {"study": study.identifier, "file": output}
        )

    def _site(self, study: Study, code: str) -> StudySite:
        site = study.sites.filter(code=code).first()
        if site is None:
            raise CommandError(
                _("%(study)s has no site %(site)s.") % {"study": study.identifier, "site": code}
            )
        return site

    def _moment(self, text: str) -> datetime:
        try:
            moment = datetime.fromisoformat(text)
        except ValueError as error:
            raise CommandError(
                _("%(value)s is not a moment (ISO 8601, e.g. 2026-03-02T14:30+01:00).")
                % {"value": text}
            ) from error
        if moment.tzinfo is None:
            raise CommandError(_("give the moment with its offset (+01:00) or Z."))
        return moment

    def _outage(self, study: Study, actor: SystemActor, action: str, options: Any) -> None:
        from carnet.randomization import outage, reconciliation

        if action == "backup":
            written = outage.backup_list_generate(
                actor=actor,
                study=study,
                site=self._site(study, options["site"]),
                per_stratum=options["per_stratum"],
                seed=options["seed"],
            )
            self.stdout.write(
                _("%(study)s site %(site)s: %(envelopes)s envelopes, %(kits)s kits reserved.")
                % {
                    "study": study.identifier,
                    "site": written.backup_list.site.code,
                    "envelopes": written.envelopes,
                    "kits": written.kits_reserved,
                }
            )
        elif action == "envelopes":
            output: Path = options["output"]
            pdf = reconciliation.envelopes_pdf(
                actor=actor, study=study, site=self._site(study, options["site"])
            )
            try:
                output.write_bytes(pdf)
            except OSError as error:
                raise CommandError(
                    _("Cannot write %(file)s: %(error)s")
                    % {"file": output, "error": error.strerror}
                ) from error
            self.stdout.write(
                _("%(study)s: sealed envelopes written to %(file)s (they hold the arms).")
                % {"study": study.identifier, "file": output}
            )
        elif action == "paper":
            from carnet.subjects.models import Subject

            subject = Subject.objects.filter(study=study, identifier=options["subject"]).first()
            if subject is None:
                raise CommandError(
                    _("%(study)s has no subject %(subject)s.")
                    % {"study": study.identifier, "subject": options["subject"]}
                )
            allocation = outage.subject_randomise_on_paper(
                actor=actor,
                subject=subject,
                envelope=options["envelope"],
                allocated_at=self._moment(options["at"]),
                allocated_by=options["by"],
                reason=options["reason"],
                kit_given=options["kit"],
            )
            self.stdout.write(
                _("%(subject)s: paper allocation %(number)s recorded, randomised on %(day)s.")
                % {
                    "subject": subject.identifier,
                    "number": allocation.number,
                    "day": allocation.randomised_on.isoformat(),
                }
            )
        else:
            found = outage.envelope_opened_report(
                actor=actor,
                study=study,
                envelope=options["envelope"],
                opened_at=self._moment(options["at"]),
                note=options["note"],
            )
            self.stdout.write(
                _("Envelope %(envelope)s reported opened.") % {"envelope": found.number}
            )

    def _reconcile(self, study: Study) -> None:
        from carnet.randomization.reconciliation import paper_reconciliation

        actor = SystemActor.command_line("carnet randomization reconcile")
        try:
            rows = paper_reconciliation(actor=actor, study=study)
        except CarnetError as error:
            raise CommandError(str(error)) from error
        mismatches = 0
        for row in rows:
            issues = "; ".join(sentence for _code, sentence in row.issues) or _("no mismatch")
            mismatches += bool(row.issues)
            line = _(
                "%(envelope)s site %(site)s stratum %(stratum)s: %(subject)s allocation "
                "%(number)s, %(issues)s"
            ) % {
                "envelope": row.envelope,
                "site": row.site,
                "stratum": row.envelope_stratum,
                "subject": row.subject or "-",
                "number": row.allocation_number or "-",
                "issues": issues,
            }
            (self.stderr if row.issues else self.stdout).write(line)
        words = {"study": study.identifier, "rows": len(rows), "mismatches": mismatches}
        if mismatches:
            raise CommandError(
                _("%(study)s: %(mismatches)s of %(rows)s envelopes used or opened do not match.")
                % words
            )
        self.stdout.write(_("%(study)s: %(rows)s envelopes used or opened, no mismatch.") % words)
