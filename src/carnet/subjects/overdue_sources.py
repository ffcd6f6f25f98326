"""What else is late besides visits, shown on the overdue list without subjects importing it
(missing samples of visits done…). Apps register a source from their ``AppConfig.ready``; each
counts and lists in the database, never subject by subject."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from carnet.accounts.models import User
    from carnet.studies.models import Study


@dataclass(frozen=True)
class OverdueRow:
    subject: str  # the subject's identifier
    site: str  # the site's code
    what: str  # e.g. "Plasma (ctDNA) — Baseline"
    since: date | None  # the day it was due
    url: str  # where to record it


@dataclass(frozen=True)
class OverdueSection:
    """A section of the overdue list: its title, its first rows, how many in all, the full list."""

    key: str
    title: str
    total: int
    rows: list[OverdueRow] = field(default_factory=list)
    url: str = ""


# (actor, study, site code or None, the first rows to show) -> a section, None when not relevant.
OverdueSource = Callable[["User", "Study", "str | None", int], "OverdueSection | None"]
OVERDUE_SOURCES: list[OverdueSource] = []


def register_overdue_source(source: OverdueSource) -> OverdueSource:
    if source not in OVERDUE_SOURCES:
        OVERDUE_SOURCES.append(source)
    return source


def overdue_sections(
    actor: User, study: Study, *, site: str | None = None, rows: int = 10
) -> list[OverdueSection]:
    """Return every registered source's section of the overdue list (those that have one)."""
    found = (source(actor, study, site, rows) for source in OVERDUE_SOURCES)
    return [section for section in found if section is not None]
