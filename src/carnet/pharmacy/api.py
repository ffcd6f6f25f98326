"""API of the pharmacy app. No logic here: selectors and services decide."""

from __future__ import annotations

from ninja import Router

router = Router(tags=["pharmacy"])
