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


def study_versions(study: Study) -> QuerySet[StudyVersion]:
    """Return every version of a study, the latest first."""
    return study.versions.order_by("-number")


def study_version_shown(study: Study) -> StudyVersion | None:
    """Return the version a study's page shows: the current one, else the latest, else None."""
    return study.current_version or study.versions.order_by("-number").first()


def study_has_draft(study: Study) -> bool:
    """Return whether a version of the study awaits publication."""
    return study.versions.filter(status="draft").exists()


def study_version_and_previous(
    study: Study, number: int
) -> tuple[StudyVersion, StudyVersion | None] | None:
    """Return a version of the study and the one it amends (the version it is based on, else
    the one numbered before it), or None when the study has no such version."""
    version = StudyVersion.objects.filter(study=study, number=number).first()
    if version is None:
        return None
    previous = (
        version.based_on or StudyVersion.objects.filter(study=study, number=number - 1).first()
    )
    return version, previous
