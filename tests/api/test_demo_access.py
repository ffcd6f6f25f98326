"""With the demo loaded: the monitor's token lists its two sites, the data-entry token one."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client

from carnet.accounts.models import User
from carnet.accounts.services import role_revoke, token_create, token_revoke
from carnet.audit.services import SystemActor
from carnet.core.clock import utc_today
from carnet.demo import demo_load, demo_studies_load
from carnet.studies.models import Study
from tests.accounts.personas import with_second_factor

pytestmark = pytest.mark.django_db
ACTOR = SystemActor(label="pytest")


@pytest.fixture
def demo() -> Study:
    demo_load(actor=ACTOR, password="a demo password for tests")
    demo_studies_load(actor=ACTOR)
    return Study.objects.get(identifier="MAINTAIN-CRC")


def sites_seen(client: Client, key: str, study: Study) -> list[str]:
    response = client.get(
        f"/api/studies/{study.identifier}/sites", headers={"authorization": f"Bearer {key}"}
    )
    assert response.status_code == 200, response.content
    return [site["centre"] for site in response.json()]


def test_the_monitor_sees_exactly_its_two_sites_and_data_entry_one(demo: Study) -> None:
    client = Client()
    _t, monitor_key = token_create(
        actor=ACTOR, user=User.objects.get(username="monitor"), study=demo
    )
    _t, entry_key = token_create(
        actor=ACTOR, user=User.objects.get(username="dataentry"), study=demo
    )
    _t, manager_key = token_create(
        actor=ACTOR,
        user=with_second_factor(User.objects.get(username="datamanager")),
        study=demo,
    )
    assert sites_seen(client, monitor_key, demo) == ["ICM", "IPC"]
    assert sites_seen(client, entry_key, demo) == ["ICM"]
    assert sites_seen(client, manager_key, demo) == ["ICM", "IPC", "CLB"]
    mine = client.get("/api/my/studies", headers={"authorization": f"Bearer {monitor_key}"}).json()
    assert [(s["identifier"], [site["code"] for site in s["sites"]]) for s in mine] == [
        ("MAINTAIN-CRC", ["01", "02"])
    ]
    assert mine[0]["unblinded"] is False


def test_an_expired_membership_and_a_revoked_token_are_refused(demo: Study) -> None:
    client = Client()
    entry = User.objects.get(username="dataentry")
    token, key = token_create(actor=ACTOR, user=entry, study=demo)
    site = entry.memberships.get(study=demo).site
    role_revoke(
        actor=ACTOR,
        user=entry,
        study=demo,
        site=site,
        role="data_entry",
        on=utc_today() - timedelta(days=1),
    )
    expired = client.get(
        f"/api/studies/{demo.identifier}", headers={"authorization": f"Bearer {key}"}
    )
    assert expired.status_code == 403
    token_revoke(actor=ACTOR, token=token)
    revoked = client.get("/api/me", headers={"authorization": f"Bearer {key}"})
    assert revoked.status_code == 401


def test_only_unblinded_roles_are_told_they_are_unblinded(demo: Study) -> None:
    client = Client()
    for username, unblinded in (("statistician", False), ("unblinded", True), ("sponsor", False)):
        # Enrolled: the unblinded statistician's token needs a second factor.
        user = with_second_factor(User.objects.get(username=username))
        _t, key = token_create(actor=ACTOR, user=user, study=demo)
        body = client.get("/api/my/studies", headers={"authorization": f"Bearer {key}"}).json()
        assert body[0]["unblinded"] is unblinded, username
