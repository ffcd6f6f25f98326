"""Every API endpoint × every role × own site / other site / expired membership / no membership.

The test fails on any 2xx that the rules do not allow, on any refusal they do not expect, and on
any site shown to someone who does not cover it. It also fails when an endpoint exists that the
table below does not describe, so every new endpoint must say who may call it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from carnet.accounts.roles import GRANTS, SITE_ROLES, Action, Role
from carnet.accounts.services import token_create
from carnet.config.api import api
from tests.accounts.personas import ADMIN, World, person, world

pytestmark = pytest.mark.django_db

SITUATIONS = ("own site", "other site", "expired", "no membership")


def may_view_study(role: str, situation: str) -> bool:
    return situation in {"own site", "other site"} and Action.VIEW_STUDY in GRANTS[role]


# For each endpoint: may this role, in this situation, get a 2xx? (about site A's study)
ENDPOINTS: dict[str, Callable[[str, str], bool]] = {
    "/api/me": lambda role, situation: True,
    "/api/my/studies": lambda role, situation: True,
    "/api/studies/{identifier}": may_view_study,
    "/api/studies/{identifier}/sites": may_view_study,
}


def concrete(path: str, w: World) -> str:
    return path.replace("{identifier}", w.study.identifier)


def persona(w: World, role: str, situation: str, n: int) -> tuple[Any, str]:
    """Return a user in a situation relative to site A, and a token for them."""
    site_scoped = role in SITE_ROLES or role == Role.MONITOR
    sites = {"own site": [w.site_a], "other site": [w.site_b]}.get(situation, [w.site_a])
    if not site_scoped and situation == "own site":
        sites = [None]  # central roles cover every site
    if not site_scoped and situation == "other site":
        sites = [w.site_b]  # a central role restricted to B, to prove the restriction holds
    user = person(
        f"u{n}",
        study=w.study if situation != "no membership" else None,
        role=role if situation != "no membership" else None,
        sites=sites,
    )
    # Tokens are made while the role is in force, then the role expires (as time passes).
    if situation == "expired":
        from datetime import timedelta

        from carnet.accounts.services import role_revoke
        from carnet.core.clock import utc_today

        _token, key = token_create(actor=ADMIN, user=user, study=w.study)
        role_revoke(
            actor=ADMIN,
            user=user,
            study=w.study,
            site=sites[0],
            role=role,
            on=utc_today() - timedelta(days=1),
        )
        return user, key
    if situation == "no membership":
        return user, ""
    _token, key = token_create(actor=ADMIN, user=user, study=w.study)
    return user, key


def test_the_table_describes_every_endpoint() -> None:
    paths = {path.rstrip("/") for path in api.get_openapi_schema()["paths"]}
    assert paths == set(ENDPOINTS)


def test_no_role_gets_what_it_may_not_and_sees_only_its_sites() -> None:
    w = world()
    client = Client()
    failures = []
    n = 0
    for role in Role.values:
        for situation in SITUATIONS:
            n += 1
            user, key = persona(w, role, situation, n)
            if key:
                headers = {"authorization": f"Bearer {key}"}
            else:
                client.force_login(user)
                headers = {}
            for path, allowed in ENDPOINTS.items():
                response = client.get(concrete(path, w), headers=headers)
                expected = allowed(role, situation)
                ok = 200 <= response.status_code < 300
                if ok != expected:
                    failures.append(f"{role:24} {situation:14} {path}: {response.status_code}")
                    continue
                if not ok:
                    assert response["Content-Type"] == "application/problem+json"
                    continue
                body = response.json()
                shown_sites: set[str] = set()
                if path == "/api/studies/{identifier}/sites":
                    shown_sites = {site["code"] for site in body}
                elif path == "/api/my/studies":
                    shown_sites = {s["code"] for study in body for s in study["sites"]}
                    if situation in {"expired", "no membership"} and body:
                        failures.append(f"{role} {situation} {path}: lists {body}")
                if situation == "other site" and w.site_a.code in shown_sites:
                    failures.append(f"{role} {situation} {path}: shows site A")
            client.logout()
    assert failures == []


def test_a_token_is_refused_for_another_study_and_when_revoked(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from carnet.accounts.services import token_revoke

    w = world()
    user = person("kim", study=w.study, role=Role.DATA_MANAGER)
    token, key = token_create(actor=ADMIN, user=user, study=w.study)
    client = Client()
    other = client.get("/api/studies/OTHER", headers={"authorization": f"Bearer {key}"})
    assert other.status_code == 403
    assert other.json()["detail"] == "This token is for another study."
    token_revoke(actor=ADMIN, token=token)
    revoked = client.get("/api/me", headers={"authorization": f"Bearer {key}"})
    assert revoked.status_code == 401
    assert revoked["WWW-Authenticate"] == 'Bearer realm="carnet"'
    assert revoked.json()["title"] == "Unauthorized"


def test_an_unknown_and_a_forbidden_study_look_the_same() -> None:
    w = world()
    user = person("lou", study=w.study, role=Role.DATA_MANAGER)
    client = Client()
    client.force_login(user)
    unknown = client.get("/api/studies/NOPE")
    assert unknown.status_code == 403
    assert unknown.json()["detail"] == "There is no study 'NOPE' you may see."
