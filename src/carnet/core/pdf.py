"""HTML to PDF with WeasyPrint, which loads the operating system's Pango when it is imported.

Where Pango (or WeasyPrint itself) is missing, the import fails with an OSError naming a shared
library; `PdfUnavailable` turns that into a sentence saying what to install, so that a page can
answer with it and a command can still write the HTML.
"""

from __future__ import annotations

from carnet.core.errors import ConfigurationError

# What docs/installation.md tells an administrator to install.
PANGO_PACKAGES = (
    "libpango-1.0-0 libpangoft2-1.0-0 (Debian, Ubuntu) or pango (macOS: brew install pango)"
)


class PdfUnavailable(ConfigurationError):
    """This installation cannot make PDFs; ``cause`` is what the import said."""

    def __init__(self, cause: str) -> None:
        super().__init__(
            f"PDF output needs the system's Pango library, which WeasyPrint could not load "
            f"({cause}); install {PANGO_PACKAGES}."
        )
        self.cause = cause


def html_to_pdf(html: str) -> bytes:
    """Return the standalone HTML page rendered as a PDF; `PdfUnavailable` without Pango."""
    try:
        from weasyprint import HTML  # imported here: loading it takes a while
    except (ImportError, OSError) as error:
        raise PdfUnavailable(str(error)) from error
    pdf = HTML(string=html).write_pdf()
    assert pdf is not None
    return bytes(pdf)
