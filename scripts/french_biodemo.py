# ruff: noqa: E501  (one translation per line reads better than wrapped strings)
"""French for the biobank's demo part: samples sent in a shipment leaving their boxes (merged
into scripts/french.py's table).

Kept apart so that work on the biobank and on other apps does not edit the same lines."""

from __future__ import annotations

FRENCH: dict[str, str | tuple[str, str]] = {
    "sent in shipment %(reference)s": "envoyé dans l'expédition %(reference)s",
}
