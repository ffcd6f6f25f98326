"""API of the redcap app."""

from __future__ import annotations

from ninja import Router

router = Router(tags=["redcap"])
