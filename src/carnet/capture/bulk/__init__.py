"""The bulk import path of captured data: many form instances at once, through the same steps,
guards and listeners as an interactive save, written in batches in one transaction."""

from carnet.capture.bulk.engine import (
    FormRecord,
    ImportOutcome,
    ImportRefused,
    Problem,
    forms_import,
)

__all__ = ["FormRecord", "ImportOutcome", "ImportRefused", "Problem", "forms_import"]
