"""What each audit chain must account for: data that exist only once their events are written.

An emptied trail verifies as nothing at all, so the verifier also asks the apps that hold audited
data (accounts, studies, subjects, capture…) what they hold, chain by chain. Each registers a
census from its AppConfig.ready(); audit imports none of them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class AuditedData:
    """Rows of one kind whose every change is recorded on ``chain``.

    ``oldest`` is the creation time of the oldest row, when the rows keep one that is always
    later than the chain's first event (a subject comes after its study was loaded).
    """

    chain: str
    what: str
    count: int
    oldest: datetime | None = None


Census = Callable[[], Iterable[AuditedData]]
_CENSUSES: list[Census] = []


def register_audited_data(census: Census) -> Census:
    """Register a census (usable as a decorator); apps call it from their AppConfig.ready()."""
    if census not in _CENSUSES:
        _CENSUSES.append(census)
    return census


def audited_data() -> dict[str, list[AuditedData]]:
    """Return, chain by chain, the audited data every registered census finds (none empty)."""
    found: dict[str, list[AuditedData]] = {}
    for census in _CENSUSES:
        for data in census():
            if data.count:
                found.setdefault(data.chain, []).append(data)
    return found
