"""What `carnet audit verify --data STUDY` compares: the current values the trail rebuilds and
the values the data tables hold.

The trail knows events, not captured data: the app that can rebuild a study's current values
from its events and read the tables registers a replay here from its AppConfig.ready; audit
imports none of them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from carnet.core.errors import ConfigurationError

# A study's identifier -> one sentence per difference found (none when the tables agree).
DataReplay = Callable[[str], list[str]]
_REPLAYS: list[DataReplay] = []
# (study identifier, filters, output path, unblinded) -> rows written.
TrailWriter = Callable[..., int]
_WRITERS: list[TrailWriter] = []


def register_data_replay(replay: DataReplay) -> DataReplay:
    _REPLAYS[:] = [replay]
    return replay


def data_replay(study: str) -> list[str]:
    """Return the differences between a study's values rebuilt from its trail and its tables."""
    if not _REPLAYS:
        raise ConfigurationError("No app rebuilds captured data from the trail (carnet.oversight).")
    return _REPLAYS[0](study)


def register_trail_writer(writer: TrailWriter) -> TrailWriter:
    _WRITERS[:] = [writer]
    return writer


def trail_write(*, study: str, filters: dict[str, str], output: Path, unblinded: bool) -> int:
    """Write a study's audit trail, filtered, as CSV (or PDF by the file's extension)."""
    if not _WRITERS:
        raise ConfigurationError("No app writes the audit trail (carnet.oversight).")
    return _WRITERS[0](study=study, filters=filters, output=output, unblinded=unblinded)
