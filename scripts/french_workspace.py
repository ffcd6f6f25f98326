# ruff: noqa: E501  (one translation per line reads better than wrapped strings)
"""French for the query settings' API and command line and the data manager's workspace at
scale (merged into scripts/french.py's table).

Kept apart so that work on queries and on other apps does not edit the same lines."""

from __future__ import annotations

FRENCH: dict[str, str] = {
    "%(pair)s: not a query setting (one of %(names)s, written name=value).": "%(pair)s : ce n'est pas un réglage des requêtes (l'un de %(names)s, écrit nom=valeur).",
    "%(pair)s: the value is on or off.": "%(pair)s : la valeur est on ou off.",
    "Say why the query settings change (kept in the audit trail).": "Dites pourquoi les réglages des requêtes changent (gardé dans la piste d'audit).",
    "Why (kept in the audit trail)": "Pourquoi (gardé dans la piste d'audit)",
}
