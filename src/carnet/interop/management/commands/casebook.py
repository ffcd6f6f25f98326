"""`carnet casebook STUDY (--subject ID | --site CODE) --output FILE`: archival casebooks."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from carnet.audit.services import SystemActor
from carnet.core.errors import CarnetError
from carnet.core.pdf import PANGO_PACKAGES, PdfUnavailable
from carnet.interop.casebook_services import casebook_archive_write, casebook_export
from carnet.interop.documents_selectors import study_site
from carnet.studies.models import Study
from carnet.subjects.environments import environment_written
from carnet.subjects.models import Subject


def _bar(done: int, total: int, name: str) -> None:
    """Draw the progress bar on the terminal's error stream (the output stays clean)."""
    width = 30
    filled = width * done // max(total, 1)
    sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {name[:20]:20}")
    if done == total:
        sys.stderr.write("\n")
    sys.stderr.flush()


class Command(BaseCommand):
    help = (
        "Write a subject's archival casebook PDF (forms, values, signatures, audit trail; "
        "blinded, pseudonymised), or a whole site's as a zip with a manifest of SHA-256 hashes."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("study", metavar="STUDY")
        which = parser.add_mutually_exclusive_group(required=True)
        which.add_argument("--subject", metavar="ID", help="One subject: a PDF.")
        which.add_argument("--site", metavar="CODE", help="Every subject of a site: a zip.")
        parser.add_argument("--language", choices=("en", "fr"), default="en")
        parser.add_argument("--output", type=Path, required=True, metavar="FILE")
        parser.add_argument("--quiet", action="store_true", help="No progress bar.")

    def handle(self, *args: Any, **options: Any) -> None:
        study = Study.objects.filter(identifier=options["study"]).first()
        if study is None:
            raise CommandError(_("No study %(study)s.") % {"study": options["study"]})
        actor = SystemActor.command_line("carnet casebook")
        output: Path = options["output"]
        partial = output.with_name(output.name + ".partial")
        try:
            if options["subject"]:
                subject = Subject.objects.filter(
                    study=study,
                    environment=environment_written(study),
                    identifier=options["subject"],
                ).first()
                if subject is None:
                    raise CommandError(
                        _("No subject %(subject)s in %(study)s.")
                        % {"subject": options["subject"], "study": study.identifier}
                    )
                made = casebook_export(actor=actor, subject=subject, language=options["language"])
                output.write_bytes(made.content)
                summary = _("%(file)s: casebook of %(subject)s; SHA-256 %(sha256)s.") % {
                    "file": output,
                    "subject": subject.identifier,
                    "sha256": made.sha256,
                }
            else:
                site = study_site(study, options["site"])
                with partial.open("wb") as target:
                    archive = casebook_archive_write(
                        actor=actor,
                        study=study,
                        site=site,
                        target=target,
                        language=options["language"],
                        progress=None if options["quiet"] else _bar,
                    )
                partial.replace(output)
                summary = _(
                    "%(file)s: %(count)s casebooks of site %(site)s; manifest SHA-256 %(sha256)s."
                ) % {
                    "file": output,
                    "count": len(archive.files),
                    "site": site.code,
                    "sha256": archive.manifest_sha256,
                }
        except PdfUnavailable as missing:
            raise CommandError(
                _("No PDF: %(cause)s. Install %(packages)s.")
                % {"cause": missing.cause, "packages": PANGO_PACKAGES}
            ) from missing
        except OSError as error:
            raise CommandError(
                _("Cannot write %(file)s: %(error)s") % {"file": output, "error": error.strerror}
            ) from error
        except CarnetError as error:
            raise CommandError(str(error)) from error
        finally:
            partial.unlink(missing_ok=True)
        self.stdout.write(summary)
