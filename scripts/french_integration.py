# ruff: noqa: E501  (one translation per line reads better than wrapped strings)
"""French for what the integration of the session's branches adds: links between capabilities
and the database lock's items from other apps (merged into scripts/french.py's table).

Kept apart so that work on the apps themselves does not edit the same lines."""

from __future__ import annotations

FRENCH: dict[str, str | tuple[str, str]] = {
    "Pharmacovigilance: serious adverse events": "Pharmacovigilance : événements indésirables graves",
    "Serious adverse events not reconciled with the safety database": "Événements indésirables graves non réconciliés avec la base de pharmacovigilance",
}
