"""What every page needs: Carnet's version; the person's studies, the current study, their roles
and sites there."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext

from carnet import __version__
from carnet.accounts.models import User
from carnet.accounts.roles import Role
from carnet.accounts.selectors import my_memberships_in, my_studies
from carnet.studies.models import StudyMode
from carnet.subjects.environments import Environment
from carnet.subjects.selectors import environment_seen


def product(request: HttpRequest) -> dict[str, Any]:
    """Carnet's own version, for the footer (``version`` in a page is a study's or a form's)."""
    return {"carnet_version": __version__}


def navigation(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if not isinstance(user, User) or not user.is_authenticated:
        return {}
    studies = list(my_studies(user))
    match = getattr(request, "resolver_match", None)
    identifier = (match.kwargs.get("identifier") if match else None) or request.session.get(
        "carnet_study"
    )
    current = next((study for study in studies if study.identifier == identifier), None)
    where: list[str] = []
    if current is not None:
        if request.session.get("carnet_study") != current.identifier:  # a read writes nothing
            request.session["carnet_study"] = current.identifier
        for membership in my_memberships_in(user, current):
            site = (
                f"{membership.site.code} {membership.site.centre.code}"
                if membership.site
                else gettext("all sites")
            )
            where.append(f"{Role(membership.role).label} · {site}")
    # The banner: every page says so while the study's subjects shown are test patients.
    test = current is not None and environment_seen(user, study=current) == Environment.TEST
    switchable = current is not None and test and current.mode != StudyMode.TEST
    return {
        "nav_studies": studies,
        "nav_study": current,
        "nav_roles": where,
        "nav_test_view": test,
        "nav_test_view_switchable": switchable,
    }
