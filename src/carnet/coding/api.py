"""API of the coding app. No logic here: selectors and services decide."""

from __future__ import annotations

from ninja import Router

router = Router(tags=["coding"])
