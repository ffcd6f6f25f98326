"""Addresses of a form's own pages (validate, history, files…), built from their URL names."""

from __future__ import annotations

from typing import Any

from django import template
from django.urls import reverse

register = template.Library()


@register.simple_tag
def form_url(name: str, form_args: tuple[Any, ...], *more: Any) -> str:
    """Return the address of capture's page ``name`` for the form that ``form_args`` names
    (study, subject, event, occurrence, form), followed by that page's own arguments."""
    return reverse(f"capture:{name}", args=[*form_args, *more])
