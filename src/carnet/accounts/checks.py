"""Carnet's own deployment checks (`carnet check-deploy`), beside Django's."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Tags, Warning, register


@register(Tags.security, deploy=True)
def allowed_hosts_named(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Warn when the server answers to any host name: links in e-mails (password links) are
    built from the Host header, which anyone can then choose."""
    if "*" in settings.ALLOWED_HOSTS:
        return [
            Warning(
                "CARNET_ALLOWED_HOSTS allows any host name ('*').",
                hint="Name the host names people use: CARNET_ALLOWED_HOSTS=carnet.example.org.",
                id="carnet.W001",
            )
        ]
    return []
