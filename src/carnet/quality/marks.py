"""The query badges capture's pages show: next to an item of the form, on the form itself and
on the casebook's cells, and the drawer the form page loads beside the form."""

from __future__ import annotations

from django.urls import reverse
from django.utils.translation import ngettext

from carnet.accounts.models import User
from carnet.capture.annotations import FormMarks, Mark
from carnet.capture.models import FormInstance
from carnet.quality.selectors import casebook_query_counts, form_query_counts
from carnet.subjects.models import Subject


def _label(count: int) -> str:
    return ngettext("%(count)d query", "%(count)d queries", count) % {"count": count}


def _drawer_url(subject: Subject, instance: FormInstance) -> str:
    url = reverse(
        "quality:drawer",
        args=[
            subject.study.identifier,
            subject.identifier,
            instance.event,
            instance.occurrence,
            instance.form,
        ],
    )
    return url + (f"?repeat={instance.repeat}" if instance.repeat > 1 else "")


def form_marks(actor: User, instance: FormInstance) -> FormMarks:
    """Return the badges of a form's waiting queries by item and row, and its drawer."""
    counts = form_query_counts(actor=actor, form_instance=instance)
    subject = instance.subject
    drawer = _drawer_url(subject, instance)
    joiner = "&" if "?" in drawer else "?"
    return FormMarks(
        marks={
            (item, row): Mark(
                count=count,
                label=_label(count),
                url=f"{drawer}{joiner}item={item}&row={row}" if item else drawer,
            )
            for (item, row), count in counts.items()
        },
        panel_url=drawer,
    )


def casebook_marks(actor: User, subject: Subject) -> dict[int, Mark]:
    """Return the badges of the casebook: the waiting queries of each form instance."""
    counts = casebook_query_counts(actor=actor, subject=subject)
    if not counts:
        return {}
    instances = FormInstance.objects.filter(pk__in=list(counts))
    return {
        instance.pk: Mark(
            count=counts[instance.pk],
            label=_label(counts[instance.pk]),
            url=_drawer_url(subject, instance),
        )
        for instance in instances
    }
