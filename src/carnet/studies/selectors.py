"""Reads on studies. (Scoping by the actor's memberships arrives with accounts and roles.)"""

from __future__ import annotations

from django.db.models import QuerySet
from django.utils.translation import gettext as _

from carnet.core.errors import ValidationError
from carnet.studies.models import Study, StudyVersion


def study_get(identifier: str) -> Study:
    """Return the study with this identifier, or raise saying which studies exist."""
    study = Study.objects.filter(identifier=identifier).select_related("current_version").first()
    if study is None:
        known = ", ".join(Study.objects.values_list("identifier", flat=True)) or _("none yet")
        raise ValidationError(
            _("There is no study %(identifier)s (known studies: %(known)s).")
            % {"identifier": repr(identifier), "known": known}
        )
    return study


def studies_list() -> QuerySet[Study]:
    """Return every study with its current version, by identifier."""
    return Study.objects.select_related("current_version").order_by("identifier")


def study_version_get(study: Study, number: int | None = None) -> StudyVersion:
    """Return a version of a study: the one numbered, else the current one, else the latest."""
    versions = study.versions.all()
    if number is not None:
        version = versions.filter(number=number).first()
        if version is None:
            raise ValidationError(
                _("%(study)s has no version %(number)s.")
                % {"study": study.identifier, "number": number}
            )
        return version
    version = study.current_version or versions.order_by("-number").first()
    if version is None:
        raise ValidationError(_("%(study)s has no version.") % {"study": study.identifier})
    return version
