"""What the validator says about a study file: located errors and warnings."""

from __future__ import annotations

from dataclasses import dataclass

from carnet.core.errors import CarnetError

Path = tuple[str | int, ...]


def path_text(path: Path) -> str:
    """Return a YAML path as people read it: ``forms[2].groups[0].items[3].range``."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text or "(top)"


@dataclass(frozen=True)
class Finding:
    """One thing wrong (error) or worth a look (warning) in a study file, with its place."""

    severity: str  # "error" or "warning"
    file: str
    line: int
    column: int
    path: str
    message: str

    def __str__(self) -> str:
        return (
            f"{self.file}:{self.line}:{self.column}: {self.severity}: {self.path}: {self.message}"
        )


class StudyFileError(CarnetError):
    """A study file has errors; ``findings`` lists every one, with warnings."""

    def __init__(self, findings: list[Finding]) -> None:
        errors = [finding for finding in findings if finding.severity == "error"]
        super().__init__(
            f"{len(errors)} error{'s' if len(errors) != 1 else ''} in the study file:\n"
            + "\n".join(str(finding) for finding in errors)
        )
        self.findings = findings
