"""Reads of the interop app: a study's cut-offs, for those who may export its data."""

from __future__ import annotations

from django.db.models import QuerySet
from django.utils.translation import gettext as _

from carnet.accounts.permissions import Actor
from carnet.core.errors import ValidationError
from carnet.interop.models import Cutoff
from carnet.interop.services import may_export
from carnet.studies.models import Study


def cutoffs_of(actor: Actor, *, study: Study) -> QuerySet[Cutoff]:
    """Return the study's cut-offs, oldest first."""
    may_export(actor, study=study)
    return Cutoff.objects.filter(study=study).order_by("seq", "name")


def cutoff_named(actor: Actor, *, study: Study, name: str) -> Cutoff:
    """Return the study's cut-off named ``name``, or refuse naming the ones there are."""
    found = cutoffs_of(actor, study=study).filter(name=name).first()
    if found is None:
        names = ", ".join(cutoffs_of(actor, study=study).values_list("name", flat=True))
        raise ValidationError(
            _("cutoff: %(study)s has no cut-off named %(name)r (it has: %(names)s).")
            % {"study": study.identifier, "name": name, "names": names or _("none")}
        )
    return found
