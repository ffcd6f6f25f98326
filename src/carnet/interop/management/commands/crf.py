"""`carnet crf STUDY [--annotated] [--study-version N] --output FILE.pdf|FILE.html`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from carnet.core.errors import CarnetError
from carnet.core.pdf import PANGO_PACKAGES, PdfUnavailable
from carnet.interop.crf_documents import crf_build, crf_html, crf_pdf
from carnet.interop.documents_selectors import crf_version
from carnet.studies.models import Study


class Command(BaseCommand):
    help = (
        "Write the blank or annotated CRF of a study version (every event, form and item; the "
        "annotated one with variable and SAS names, types, code lists and rules) as PDF or HTML."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("study", metavar="STUDY")
        parser.add_argument(
            "--annotated", action="store_true", help="The annotated CRF (default: the blank one)."
        )
        parser.add_argument(
            "--study-version",
            type=int,
            dest="study_version",
            metavar="N",
            help="A published study version (default: the current one).",
        )
        parser.add_argument("--language", choices=("en", "fr"), default="en")
        parser.add_argument(
            "--output",
            type=Path,
            required=True,
            metavar="FILE",
            help="FILE.pdf, or FILE.html for the printable page.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        study = Study.objects.filter(identifier=options["study"]).first()
        if study is None:
            raise CommandError(_("No study %(study)s.") % {"study": options["study"]})
        output: Path = options["output"]
        try:
            version = crf_version(study, options["study_version"])
        except CarnetError as error:
            raise CommandError(str(error)) from error
        crf = crf_build(
            study=study,
            version=version,
            annotated=options["annotated"],
            language=options["language"],
        )
        try:
            if output.suffix.lower() == ".html":
                output.write_text(crf_html(crf, inline_css=True), encoding="utf-8")
            else:
                try:
                    output.write_bytes(crf_pdf(crf))
                except PdfUnavailable as missing:
                    html = output.with_suffix(".html")
                    html.write_text(crf_html(crf, inline_css=True), encoding="utf-8")
                    raise CommandError(
                        _("No PDF: %(cause)s. Install %(packages)s; the HTML is in %(html)s.")
                        % {"cause": missing.cause, "packages": PANGO_PACKAGES, "html": html}
                    ) from missing
        except OSError as error:
            raise CommandError(
                _("Cannot write %(file)s: %(error)s") % {"file": output, "error": error.strerror}
            ) from error
        self.stdout.write(
            _("%(file)s: the %(kind)s CRF of %(study)s, version %(version)s.")
            % {
                "file": output,
                "kind": _("annotated") if options["annotated"] else _("blank"),
                "study": study.identifier,
                "version": version.number,
            }
        )
