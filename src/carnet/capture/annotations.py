"""What other parts show on capture's pages without capture importing them: a mark next to an
item of the form (open queries…), a mark on a casebook cell, and a panel of the form page loaded
by htmx (the query drawer). Apps register their sources from their ``AppConfig.ready``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from carnet.accounts.models import User
    from carnet.capture.models import FormInstance
    from carnet.subjects.models import Subject


@dataclass(frozen=True)
class Mark:
    """A badge: how many things wait, what it says, and where it leads (an htmx panel)."""

    count: int
    label: str
    url: str


@dataclass
class FormMarks:
    """What a source shows on one form page: marks by (item, row), ("", 0) for the form's own,
    and the address of a panel the page loads beside the form."""

    marks: dict[tuple[str, int], Mark] = field(default_factory=dict)
    panel_url: str = ""


FormMarkSource = Callable[["User", "FormInstance"], FormMarks]
CasebookMarkSource = Callable[["User", "Subject"], dict[int, Mark]]
# Marks on a casebook column: one visit (event, occurrence number), e.g. its samples.
OccurrenceMarkSource = Callable[["User", "Subject"], dict[tuple[str, int], Mark]]
FORM_MARK_SOURCES: list[FormMarkSource] = []
CASEBOOK_MARK_SOURCES: list[CasebookMarkSource] = []
OCCURRENCE_MARK_SOURCES: list[OccurrenceMarkSource] = []


def register_occurrence_marks(source: OccurrenceMarkSource) -> OccurrenceMarkSource:
    if source not in OCCURRENCE_MARK_SOURCES:
        OCCURRENCE_MARK_SOURCES.append(source)
    return source


def occurrence_marks(actor: User, subject: Subject) -> dict[tuple[str, int], list[Mark]]:
    """Return every source's marks on the casebook's columns, by (event, occurrence)."""
    found: dict[tuple[str, int], list[Mark]] = {}
    for source in OCCURRENCE_MARK_SOURCES:
        for place, mark in source(actor, subject).items():
            found.setdefault(place, []).append(mark)
    return found


def register_form_marks(source: FormMarkSource) -> FormMarkSource:
    if source not in FORM_MARK_SOURCES:
        FORM_MARK_SOURCES.append(source)
    return source


def register_casebook_marks(source: CasebookMarkSource) -> CasebookMarkSource:
    if source not in CASEBOOK_MARK_SOURCES:
        CASEBOOK_MARK_SOURCES.append(source)
    return source


def form_marks(actor: User, instance: FormInstance) -> list[FormMarks]:
    """Return every source's marks for a form instance already saved."""
    return [source(actor, instance) for source in FORM_MARK_SOURCES]


def casebook_marks(actor: User, subject: Subject) -> dict[int, list[Mark]]:
    """Return every source's marks on a subject's casebook, by form instance id."""
    found: dict[int, list[Mark]] = {}
    for source in CASEBOOK_MARK_SOURCES:
        for instance_id, mark in source(actor, subject).items():
            found.setdefault(instance_id, []).append(mark)
    return found
