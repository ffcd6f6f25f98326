"""The study-as-code format: reading, validating, comparing study definitions (no Django)."""

from carnet.studies.definition.findings import Finding, StudyFileError
from carnet.studies.definition.loading import StudyFile, study_file_read, study_text_validate
from carnet.studies.definition.model import StudyDefinition

__all__ = [
    "Finding",
    "StudyDefinition",
    "StudyFile",
    "StudyFileError",
    "study_file_read",
    "study_text_validate",
]
