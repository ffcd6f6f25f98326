"""The signed change of a study's mode, as studies' command line asks for it: accounts signs.

A change of mode is a person's signed act (their password, their authenticator code, a meaning),
and people and e-signatures belong to accounts, which sits above studies. Accounts registers
here, from its AppConfig.ready, how to find the signer and how to make the signed change; the
`carnet study mode` command uses them without importing accounts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from django.utils.translation import gettext_noop

from carnet.core.errors import ConfigurationError
from carnet.studies.models import Study

# The meaning of the signature on a change of mode, unless the signer chooses another one of
# the study's meanings (accounts offers it among its default meanings).
MODE_CHANGE_MEANING = gettext_noop("I authorise this change of the study's mode.")


class Signer(Protocol):
    """The person who signs, as the command names them."""

    def display_name(self) -> str: ...


@dataclass(frozen=True)
class ModeSigning:
    """How accounts finds a signer by user name and makes the signed change of mode."""

    # The person with this user name; refuses an unknown one.
    signer: Callable[[str], Signer]
    # The signed change: keyword arguments actor, study, mode, reason, password, totp_code and
    # meaning; returns the study in its new mode.
    change: Callable[..., Study]


_MODE_SIGNING: list[ModeSigning] = []


def register_mode_signing(signing: ModeSigning) -> ModeSigning:
    """Let the command line sign changes of mode (called from accounts' AppConfig.ready)."""
    _MODE_SIGNING[:] = [signing]
    return signing


def mode_signing() -> ModeSigning:
    """Return how to sign a change of mode; refuse when no app registered one."""
    if not _MODE_SIGNING:
        raise ConfigurationError("No app signs changes of a study's mode (carnet.accounts).")
    return _MODE_SIGNING[0]
