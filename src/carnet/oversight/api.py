"""API of the oversight app."""

from ninja import Router

router = Router(tags=["oversight"])
