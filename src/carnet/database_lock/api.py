"""API of the database_lock app."""

from __future__ import annotations

from ninja import Router

router = Router(tags=["database_lock"])
