"""`{% randomisation_step subject %}`: the randomisation block of the subject page.

Subjects' pages know nothing of randomisation (a lower layer): they load this tag, which asks
the randomisation selectors; a study without a scheme shows nothing.
"""

from __future__ import annotations

from typing import Any

from django import template

from carnet.accounts.models import User
from carnet.accounts.permissions import PermissionDenied
from carnet.randomization import selectors
from carnet.subjects.models import Subject

register = template.Library()


@register.inclusion_tag("randomization/_step.html", takes_context=True)
def randomisation_step(context: dict[str, Any], subject: Subject) -> dict[str, Any]:
    request = context.get("request")
    user = getattr(request, "user", None)
    state = None
    if isinstance(user, User):
        try:
            state = selectors.randomisation_state(user, subject)
        except (PermissionDenied, selectors.RandomisationRefused):
            state = None
    return {"state": state, "subject": subject}
