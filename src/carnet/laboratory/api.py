"""API of the laboratory app."""

from ninja import Router

router = Router(tags=["laboratory"])
