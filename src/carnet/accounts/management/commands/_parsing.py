"""Argument helpers shared by the provisioning commands."""

from __future__ import annotations

import argparse
from datetime import date


def iso_date(text: str) -> date:
    """Parse a YYYY-MM-DD date for argparse, with a sentence when it is not one."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2026-11-22") from None
