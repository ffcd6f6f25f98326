"""The confirmation of each allocation, written to the outbox in the allocation's transaction.

It goes to the site's investigators, the site's pharmacists (the hospital pharmacy, PUI) and the
data centre (the data managers): subject, date, allocation number and kit number. The arm is
written only into the message of a recipient the blinding policy unblinds; a blinded
recipient's message never names it.
"""

from __future__ import annotations

from django.utils import translation
from django.utils.translation import gettext as _

from carnet.accounts.blinding import blinding_of
from carnet.accounts.models import User
from carnet.accounts.roles import Role
from carnet.accounts.selectors import site_members
from carnet.messaging.services import message_send, recipient_language
from carnet.randomization.models import Allocation
from carnet.subjects.environments import Environment

CONFIRMATION_ROLES = (Role.INVESTIGATOR, Role.PHARMACIST, Role.DATA_MANAGER)


def confirmation_recipients(allocation: Allocation) -> list[User]:
    """Return who is told of an allocation: the site's investigators and pharmacists, and the
    data managers of the site (or of all sites)."""
    subject = allocation.subject
    return site_members(study=allocation.study, site=subject.site_id, roles=CONFIRMATION_ROLES)


def allocation_confirm(allocation: Allocation) -> int:
    """Write the allocation's confirmation to each recipient; return how many were written."""
    subject = allocation.subject
    study = allocation.study
    words = {
        "study": study.identifier,
        "subject": subject.identifier,
        "number": allocation.number,
        "date": allocation.randomised_on.isoformat(),
        "kit": allocation.kit_number,
    }
    recipients = confirmation_recipients(allocation)
    for recipient in recipients:
        unblinded = blinding_of(recipient, study=study).unblinded
        language = recipient_language(recipient)
        with translation.override(language):
            title = _("%(study)s: %(subject)s randomised (allocation %(number)s)") % words
            lines = [
                _("Subject: %(subject)s") % words,
                _("Randomisation date: %(date)s") % words,
                _("Allocation number: %(number)s") % words,
            ]
            if allocation.kit_number:
                lines.append(_("Kit number: %(kit)s") % words)
            if unblinded:
                lines.append(_("Arm: %(arm)s") % {"arm": allocation.arm})
            if subject.environment == Environment.TEST:
                lines.append(_("Test data: the study is in test mode."))
            body = "\n".join(lines)
        message_send(
            recipient=recipient,
            subject=title,
            body=body,
            language=language,
            key=f"randomisation-confirmation:{allocation.pk}:{recipient.pk}",
        )
    return len(recipients)
