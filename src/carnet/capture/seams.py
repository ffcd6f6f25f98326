"""Where other apps take part in capture's writes without capture importing them.

Every entry point that writes captured data (the form page and the API save, "not done",
reopen, file uploads, later imports and the REDCap API) builds one `WriteContext` and runs:

- the **guards**, inside the write's transaction, once its form instance is found and locked
  and before anything is read or written: a guard refuses by raising `SaveRefused` (a locked
  form, a frozen study, a subject whose consent forbids it);
- the **listeners**, inside the same transaction once the values are written, with exactly the
  changed items (reset SDV, void a signature, open or close automatic queries, last news).

Work that may wait (e-mail, a dashboard) is never done in the transaction: a listener hands it
to `WriteContext.after_commit`, which runs it once the write is committed, and not at all if it
rolls back. Apps register their guards and listeners from their ``AppConfig.ready``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from django.db import transaction

from carnet.audit.services import AuditEntry
from carnet.core.errors import ValidationError

if TYPE_CHECKING:
    from carnet.audit.services import Actor
    from carnet.capture.models import CheckResult, FormInstance
    from carnet.subjects.models import Subject

# Checks whose name starts so belong to Carnet's listeners (a date after death…), never to a
# study: a study's check names have no colon, so a save neither takes nor closes them.
OWN_CHECK_PREFIX = "carnet:"


class WriteKind(StrEnum):
    """What a write does to a form instance."""

    SAVE = "save"
    NOT_DONE = "not-done"
    REOPEN = "reopen"
    FILE = "file"


class SaveRefused(ValidationError):
    """A guard refuses the write; ``place`` says what the refusal is about (the study, the
    subject, the form, or an item), the message says why in the person's language."""

    def __init__(self, message: str, *, place: str = "form") -> None:
        super().__init__(message)
        self.place = place


@dataclass(frozen=True)
class ValueState:
    """An item value as stored: canonical text, typed columns, missing code, removed."""

    text: str
    number: Any = None
    day: date | None = None
    missing: str = ""
    removed: bool = False


@dataclass(frozen=True)
class Change:
    """One item value the write changed: ``old`` is None where the value is new."""

    item: str
    row: int  # 0 outside repeating groups
    place: str  # item, or group[row].item
    old: ValueState | None
    new: ValueState


@dataclass
class WriteContext:
    """One write of captured data, as guards and listeners see it."""

    actor: Actor
    subject: Subject
    form_instance: FormInstance
    kind: WriteKind
    today: date  # at the subject's site
    reason: str = ""
    changes: list[Change] = field(default_factory=list)  # empty for guards: nothing read yet
    # Audit events of the listeners' own writes: appended to the study's chain after the
    # write's own events, in one append (the chain stays locked for the shortest time).
    audit: list[AuditEntry] = field(default_factory=list)
    # Open checks of this form a listener keeps (OWN_CHECK_PREFIX): the answer shows them.
    open_checks: list[CheckResult] = field(default_factory=list)
    # The write inserted its form instance: nothing refers to the form yet (no verification,
    # no query, no check result but those this write stored), so listeners may skip reading
    # them. False wherever it is not known (a status change).
    form_created: bool = False
    # The write's soft checks left results open on the form (stored by it, or kept).
    soft_checks_open: bool = False

    def new_form_without_checks(self) -> bool:
        """Whether this write created its form and left no check result open on it: such a
        form has no query, no deviation, no verification yet (listeners need not read them)."""
        return self.form_created and not self.soft_checks_open and not self.open_checks

    def after_commit(self, work: Callable[[], Any]) -> None:
        """Run ``work`` once this write is committed; never if it rolls back.

        A failure of ``work`` is logged and does not undo the committed write."""
        transaction.on_commit(work, robust=True)


SaveGuard = Callable[[WriteContext], None]
SaveListener = Callable[[WriteContext], None]
SAVE_GUARDS: list[SaveGuard] = []
SAVE_LISTENERS: list[SaveListener] = []


def register_save_guard(guard: SaveGuard) -> SaveGuard:
    """Let ``guard`` refuse writes of captured data (called from an AppConfig.ready)."""
    if guard not in SAVE_GUARDS:
        SAVE_GUARDS.append(guard)
    return guard


def register_save_listener(listener: SaveListener) -> SaveListener:
    """Let ``listener`` act on every write of captured data (called from an AppConfig.ready)."""
    if listener not in SAVE_LISTENERS:
        SAVE_LISTENERS.append(listener)
    return listener


def save_guards_run(context: WriteContext) -> None:
    """Run every guard on a write about to happen; the first that refuses raises SaveRefused."""
    for guard in SAVE_GUARDS:
        guard(context)


def save_listeners_run(context: WriteContext) -> None:
    """Run every listener on a write just made, in the order they registered."""
    for listener in SAVE_LISTENERS:
        listener(context)


# --- many writes at once (the bulk path) --------------------------------------------------------
# A listener may also have a set-wise form: called once with the contexts of many writes just
# made (one wave of an import), it must have the effect of the listener called on each in turn,
# in fewer queries. A guard may have a quick test: given a study and the subjects of an import,
# False says it can refuse none of their writes, and the import skips it.
SaveListenerMany = Callable[[Sequence[WriteContext]], None]
SaveGuardNeeded = Callable[[int, Sequence[int]], bool]
SAVE_LISTENERS_MANY: dict[SaveListener, SaveListenerMany] = {}
SAVE_GUARDS_NEEDED: dict[SaveGuard, SaveGuardNeeded] = {}


def register_save_listener_many(listener: SaveListener, many: SaveListenerMany) -> None:
    """Give a registered listener its set-wise form (called from an AppConfig.ready)."""
    SAVE_LISTENERS_MANY[listener] = many


def register_save_guard_needed(guard: SaveGuard, needed: SaveGuardNeeded) -> None:
    """Give a registered guard its quick test (called from an AppConfig.ready)."""
    SAVE_GUARDS_NEEDED[guard] = needed


def save_listeners_run_many(contexts: Sequence[WriteContext]) -> None:
    """Run every listener on many writes just made: its set-wise form once, or the listener on
    each write in order. Each context collects its own audit events and open checks."""
    if not contexts:
        return
    for listener in SAVE_LISTENERS:
        many = SAVE_LISTENERS_MANY.get(listener)
        if many is not None:
            many(contexts)
        else:
            for context in contexts:
                listener(context)


def save_guards_for(study_id: int, subject_ids: Sequence[int]) -> list[SaveGuard]:
    """Return the guards that may refuse a write of these subjects (every guard without a quick
    test, and those whose test says so)."""
    return [
        guard
        for guard in SAVE_GUARDS
        if guard not in SAVE_GUARDS_NEEDED or SAVE_GUARDS_NEEDED[guard](study_id, subject_ids)
    ]


def save_guards_run_some(guards: Sequence[SaveGuard], context: WriteContext) -> None:
    """Run the given guards (from `save_guards_for`) on a write about to happen."""
    for guard in guards:
        guard(context)
