"""Named people for access tests, set up through the services as an administrator would.

An investigator at site A, a monitor for A and B, a blinded statistician, an unblinded one,
and an outsider with an account but no role.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from carnet.accounts.models import StudySite, User
from carnet.accounts.services import centre_add, role_grant, site_activate, site_add
from carnet.core.clock import utc_today
from carnet.studies.definition import study_file_read
from carnet.studies.models import Study
from carnet.studies.services import study_load, study_publish
from tests.accounts.factories import ADMIN, UserFactory

FIXTURE = Path(__file__).resolve().parents[1] / "studies" / "fixtures" / "mini.yaml"


@dataclass
class World:
    study: Study
    site_a: StudySite
    site_b: StudySite


def world() -> World:
    """Return the MINI study, published, with two active sites (A = 01 at ICM, B = 02 at IPC)."""
    outcome = study_load(actor=ADMIN, study_file=study_file_read(FIXTURE), source_name="mini.yaml")
    study_publish(actor=ADMIN, study=outcome.study)
    study = Study.objects.get(pk=outcome.study.pk)
    icm = centre_add(
        actor=ADMIN, code="ICM", name="Institut du Cancer de Montpellier", city="Montpellier"
    )
    ipc = centre_add(actor=ADMIN, code="IPC", name="Institut Paoli-Calmettes", city="Marseille")
    site_a = site_activate(
        actor=ADMIN, site=site_add(actor=ADMIN, study=study, centre=icm), on=date(2025, 1, 1)
    )
    site_b = site_activate(
        actor=ADMIN, site=site_add(actor=ADMIN, study=study, centre=ipc), on=date(2025, 1, 1)
    )
    return World(study, site_a, site_b)


def person(
    username: str,
    *,
    study: Study | None = None,
    role: str | None = None,
    sites: list[StudySite | None] | None = None,
    expired: bool = False,
) -> User:
    """Return a new account, with a role at the given sites (None: all sites) if one is given."""
    user = UserFactory.create(username=username)
    if study is not None and role is not None:
        today = utc_today()
        for site in sites or [None]:
            role_grant(
                actor=ADMIN,
                user=user,
                study=study,
                site=site,
                role=role,
                starts_on=today - timedelta(days=60),
                ends_on=today - timedelta(days=1) if expired else None,
            )
    return user


def with_second_factor(user: User) -> User:
    """Return the person with an authenticator app enrolled, as people whose roles require a
    second factor have before their API tokens work."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    TOTPDevice.objects.create(user=user, name="Authenticator", confirmed=True)
    return user
