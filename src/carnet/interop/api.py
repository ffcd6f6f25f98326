"""API of the interop app: cut-offs and exports."""

from ninja import Router

router = Router(tags=["interop"])
