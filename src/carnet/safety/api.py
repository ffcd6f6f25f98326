"""API of the safety app."""

from __future__ import annotations

from ninja import Router

router = Router(tags=["safety"])
