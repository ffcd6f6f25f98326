"""The SDV badges capture's pages show: on each verified (or reset) item of a form, with the SDV
panel beside the form, and on each casebook cell that a monitor has verified."""

from __future__ import annotations

from django.urls import reverse
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from carnet.accounts.models import User
from carnet.capture.annotations import FormMarks, Mark
from carnet.capture.models import FormInstance
from carnet.monitoring.selectors import FormState, sdv_states
from carnet.subjects.models import Subject

# A key that matches no item of a form: the page shows this mark on the form itself.
FORM_KEY = ("monitoring:sdv", 0)


def panel_url(instance: FormInstance) -> str:
    subject = instance.subject
    url = reverse(
        "monitoring:form_panel",
        args=[
            subject.study.identifier,
            subject.identifier,
            instance.event,
            instance.occurrence,
            instance.form,
        ],
    )
    return url + (f"?repeat={instance.repeat}" if instance.repeat > 1 else "")


def _summary(state: FormState) -> str:
    resets = sum(1 for item in state.items if item.last_reset is not None)
    label = _("SDV %(verified)s/%(total)s") % {
        "verified": state.verified,
        "total": len(state.items),
    }
    if resets:
        label += " · " + _("%(count)s reset") % {"count": resets}
    return label


def _touched(state: FormState) -> bool:
    return any(item.verified or item.last_reset is not None for item in state.items)


def form_marks(actor: User, instance: FormInstance) -> FormMarks:
    """Return "Verified (SDV)" or "SDV reset" beside each item, the form's SDV count, and the
    SDV panel beside the form."""
    url = panel_url(instance)
    states = sdv_states(instance.subject, instance=instance, language=get_language() or "en")
    marks: dict[tuple[str, int], Mark] = {}
    for state in states:
        for item in state.items:
            if item.verification is not None:
                marks[(item.item, item.row)] = Mark(
                    count=1,
                    label=_("Verified (SDV) by %(who)s")
                    % {"who": item.verification.verified_by_name},
                    url=url,
                )
            elif item.last_reset is not None:
                marks[(item.item, item.row)] = Mark(count=1, label=_("SDV reset"), url=url)
        if _touched(state):
            marks[FORM_KEY] = Mark(count=state.verified, label=_summary(state), url=url)
    return FormMarks(marks=marks, panel_url=url)


def casebook_marks(actor: User, subject: Subject) -> dict[int, Mark]:
    """Return one SDV badge per form instance a monitor verified (or whose SDV was reset)."""
    states = sdv_states(subject, language=get_language() or "en")
    url = reverse("monitoring:subject", args=[subject.study.identifier, subject.identifier])
    return {
        state.instance.pk: Mark(count=state.verified, label=_summary(state), url=url)
        for state in states
        if _touched(state)
    }
