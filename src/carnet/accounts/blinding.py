"""The blinding policy: the one place that decides what a person may see of a study's values.

A blinded person (investigator, site staff, monitor, blinded statistician...) never reads an
arm-revealing value: a kit number, the treatment revealed at an emergency unblinding, and later
the arm itself, the allocation and kit lists. Every output that shows a value asks this module
rather than deciding on its own: pages, API answers (errors and conflicts included), item
history, listings and exports. A value masked here reads `HIDDEN`, so the person still sees that
something was entered.

The blind ends for everyone of a study when the study is unblinded as a whole, after its
database lock (`Study.unblinded_at`, set by randomization.study_unblinding): from then on every
person holding a role in the study reads the arms. A later unlock of the database does not
restore the blind.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from carnet.accounts.permissions import is_unblinded

if TYPE_CHECKING:
    from carnet.accounts.models import User
    from carnet.studies.definition.model import Item
    from carnet.studies.models import Study

HIDDEN = "(blinded)"


@dataclass(frozen=True)
class Blinding:
    """What one person may see of one study's values."""

    unblinded: bool

    def conceals(self, item: Item | None) -> bool:
        """Return whether this person must not read the item's values."""
        return item is not None and item.arm_revealing and not self.unblinded

    def text(self, item: Item | None, text: str) -> str:
        """Return a value's text as this person may read it: masked when the item reveals the
        arm and the person is blinded (an empty value stays empty)."""
        return HIDDEN if text and self.conceals(item) else text

    def arm(self, arm: str) -> str:
        """Return a subject's allocated arm as this person may read it: masked unless unblinded."""
        return arm if self.unblinded or not arm else HIDDEN

    def change(self, item: Item | None, change: dict[str, Any]) -> dict[str, Any]:
        """Return a change of a value (a conflict's or the history's) as this person may read
        it: its ``text``, ``old`` and ``new`` texts masked alike."""
        if not self.conceals(item):
            return change
        return {
            key: self.text(item, value) if key in {"text", "old", "new"} else value
            for key, value in change.items()
        }


def blinding_of(actor: User, *, study: Study) -> Blinding:
    """Return what the actor may see of the study's values."""
    return Blinding(unblinded=is_unblinded(actor, study=study))
