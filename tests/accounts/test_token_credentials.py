"""API tokens are credentials of their own: the second factor holds for them, a password lock
does not stop them, and a role revoked now stops them now."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.test import Client

from carnet.accounts.models import User
from carnet.accounts.roles import Role
from carnet.audit.models import AuditEvent
from tests.accounts.factories import UserFactory
from tests.accounts.personas import World, person, world
from tests.web.helpers import enrol, sign_in

pytestmark = pytest.mark.django_db


def token_of(user: User, w: World) -> str:
    """Return a token created as an administrator does, with `carnet token create`."""
    out, err = io.StringIO(), io.StringIO()
    call_command("token", "create", user.username, w.study.identifier, stdout=out, stderr=err)
    return out.getvalue().strip()


def api(key: str, path: str = "/api/studies/MINI") -> int:
    return Client().get(path, headers={"authorization": f"Bearer {key}"}).status_code


@pytest.mark.parametrize(
    "role", [Role.DATA_MANAGER, Role.UNBLINDED_STATISTICIAN, Role.PHARMACOVIGILANCE]
)
def test_a_token_of_a_person_who_never_enrolled_a_required_second_factor_gets_403(
    role: str,
) -> None:
    w = world()
    user = person("nina", study=w.study, role=role)
    key = token_of(user, w)
    response = Client().get("/api/studies/MINI", headers={"authorization": f"Bearer {key}"})
    assert response.status_code == 403
    assert response["Content-Type"] == "application/problem+json"
    assert "second factor" in response.json()["detail"]


def test_a_token_of_a_system_administrator_without_a_second_factor_gets_403() -> None:
    w = world()
    admin = UserFactory.create(username="olga", is_administrator=True)
    call_command("role", "grant", "olga", "MINI", "all", Role.SPONSOR, stdout=io.StringIO())
    key = token_of(admin, w)
    assert api(key, "/api/me") == 403


def test_the_token_works_once_its_owner_has_enrolled_the_second_factor() -> None:
    w = world()
    user = person("quentin", study=w.study, role=Role.DATA_MANAGER)
    key = token_of(user, w)
    assert api(key) == 403
    browser = Client()
    sign_in(browser, "quentin")
    enrol(browser)
    assert api(key) == 200


def test_creating_the_token_warns_that_it_waits_for_the_second_factor() -> None:
    w = world()
    person("rosa", study=w.study, role=Role.DATA_MANAGER)
    err = io.StringIO()
    call_command("token", "create", "rosa", "MINI", stdout=io.StringIO(), stderr=err)
    assert "works once rosa has enrolled a second factor" in err.getvalue()


def test_a_blinded_site_role_needs_no_second_factor_for_its_token() -> None:
    w = world()
    user = person("sami", study=w.study, role=Role.DATA_ENTRY, sites=[w.site_a])
    assert api(token_of(user, w)) == 200


def test_wrong_passwords_for_an_account_leave_its_tokens_working() -> None:
    w = world()
    user = person("tess", study=w.study, role=Role.DATA_ENTRY, sites=[w.site_a])
    key = token_of(user, w)
    attacker = Client()
    statuses = [
        attacker.post("/login/", {"username": "tess", "password": "wrong"}).status_code
        for _ in range(6)
    ]
    assert statuses[-1] == 429  # the password is locked …
    response = Client().get("/api/me", headers={"authorization": f"Bearer {key}"})
    assert response.status_code == 200  # … the token is not
    assert response.json()["username"] == "tess"


def test_a_revoked_token_stops_at_once() -> None:
    w = world()
    user = person("ugo", study=w.study, role=Role.DATA_ENTRY, sites=[w.site_a])
    key = token_of(user, w)
    assert api(key) == 200
    call_command("token", "revoke", key[:6], stdout=io.StringIO())
    assert api(key) == 401


def test_a_role_revoked_without_a_date_ends_now_and_its_token_stops_now() -> None:
    w = world()
    user = person("vera", study=w.study, role=Role.DATA_ENTRY, sites=[w.site_a])
    key = token_of(user, w)
    assert api(key) == 200
    out = io.StringIO()
    call_command("role", "revoke", "vera", "MINI", "01", Role.DATA_ENTRY, stdout=out)
    assert "ended now" in out.getvalue()
    assert api(key) in (403, 404)
    event = AuditEvent.objects.filter(action="role.revoked").get()
    assert event.new["ended_at"] is not None


def test_a_role_revoked_on_a_later_date_keeps_working_until_then() -> None:
    w = world()
    user = person("wes", study=w.study, role=Role.DATA_ENTRY, sites=[w.site_a])
    key = token_of(user, w)
    call_command(
        "role",
        "revoke",
        "wes",
        "MINI",
        "01",
        Role.DATA_ENTRY,
        "--on",
        "2999-12-31",
        stdout=io.StringIO(),
    )
    assert api(key) == 200


def test_a_role_revoked_now_cannot_be_revoked_again() -> None:
    w = world()
    person("xavier", study=w.study, role=Role.DATA_ENTRY, sites=[w.site_a])
    call_command("role", "revoke", "xavier", "MINI", "01", Role.DATA_ENTRY, stdout=io.StringIO())
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="holds no data_entry role"):
        call_command(
            "role", "revoke", "xavier", "MINI", "01", Role.DATA_ENTRY, stdout=io.StringIO()
        )
    assert AuditEvent.objects.filter(action="role.revoked").count() == 1
