"""The bulk import path of captured data: many form instances at once, through the same steps,
guards and listeners as an interactive save, written in batches in one transaction."""

from carnet.capture.bulk.csv_files import (
    FileRefused,
    ReadFile,
    csv_records_read,
    files_import,
    import_template,
)
from carnet.capture.bulk.engine import (
    FormRecord,
    ImportOutcome,
    ImportRefused,
    Problem,
    forms_import,
    import_allowed,
)

__all__ = [
    "FileRefused",
    "FormRecord",
    "ImportOutcome",
    "ImportRefused",
    "Problem",
    "ReadFile",
    "csv_records_read",
    "files_import",
    "forms_import",
    "import_allowed",
    "import_template",
]
