"""API of the quality app."""

from ninja import Router

router = Router(tags=["quality"])
