"""A factor changed after randomisation: the data managers are told; the allocation stands.

ICH E9: a subject randomised in the wrong stratum stays in the arm allocated, and the error is
documented. A save that changes an item whose level was used at allocation (a listener of
capture's writes) writes a message to the data managers of the subject's site. It names the
factor and both levels, never the arm (levels of a stratification factor reveal nothing).
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db.models import QuerySet
from django.utils import translation
from django.utils.translation import gettext as _

from carnet.accounts.models import User
from carnet.accounts.roles import Role
from carnet.accounts.selectors import site_members
from carnet.capture.seams import (
    WriteContext,
    register_save_listener,
    register_save_listener_many,
)
from carnet.db.prepared import Prepared
from carnet.messaging.services import message_send, recipient_language
from carnet.randomization.models import Allocation


def _allocation_factors(subject_id: int) -> QuerySet[Allocation]:
    return Allocation.objects.filter(subject_id=subject_id).only("factors").order_by()


# Read by every save that changes data (a listener): compiled once (carnet/db/prepared.py).
_ALLOCATION_FACTORS = Prepared(_allocation_factors, int)


def factor_change_notify(context: WriteContext) -> None:
    """Write to the site's data managers when a save changes a level used at allocation."""
    if not context.changes:
        return
    # One allocation at most (one-to-one); unordered, as the model's ordering joins the study.
    allocation = _ALLOCATION_FACTORS.first(context.subject.pk)
    if allocation is None:
        return
    changed = [
        (change.item, str(allocation.factors[change.item]), change.new.text)
        for change in context.changes
        if change.item in allocation.factors
        and not change.new.removed
        and change.new.text != str(allocation.factors[change.item])
    ]
    if not changed:
        return
    subject = context.subject
    recipients: list[User] = site_members(
        study=subject.study, site=subject.site_id, roles=[Role.DATA_MANAGER]
    )
    words = {"study": subject.study.identifier, "subject": subject.identifier}
    for recipient in recipients:
        language = recipient_language(recipient)
        with translation.override(language):
            title = _("%(study)s: a randomisation factor of %(subject)s changed") % words
            lines = [
                _(
                    "A value used to randomise subject %(subject)s of study %(study)s was "
                    "changed in the casebook. The allocation stands (ICH E9): document the "
                    "stratification error; do not randomise again."
                )
                % words,
                "",
            ]
            lines += [
                _("%(factor)s: %(old)s at randomisation, now %(new)s")
                % {"factor": item, "old": old, "new": new or _("(empty)")}
                for item, old, new in changed
            ]
        message_send(recipient=recipient, subject=title, body="\n".join(lines), language=language)


def factor_change_notify_many(contexts: Sequence[WriteContext]) -> None:
    """`factor_change_notify` on many writes (a wave of an import): one read finds the factors
    of the randomised subjects; only the writes changing one go through the listener."""
    subjects = sorted({c.subject.pk for c in contexts if c.changes})
    factors: dict[int, set[str]] = {}
    for start in range(0, len(subjects), 5000):
        for subject_id, used in Allocation.objects.filter(
            subject_id__in=subjects[start : start + 5000]
        ).values_list("subject_id", "factors"):
            factors.setdefault(subject_id, set()).update(used or {})
    for context in contexts:
        used = factors.get(context.subject.pk)
        if used and any(change.item in used for change in context.changes):
            factor_change_notify(context)


def register() -> None:
    register_save_listener(factor_change_notify)
    register_save_listener_many(factor_change_notify, factor_change_notify_many)
