"""`carnet demo` is idempotent."""

from __future__ import annotations

import pytest

from carnet.accounts.models import User
from carnet.audit.models import AuditEvent
from carnet.audit.services import SystemActor
from carnet.demo import DEMO_ACCOUNTS, demo_load

pytestmark = pytest.mark.django_db


def test_the_demo_can_be_loaded_twice_without_changing_anything(system_actor: SystemActor) -> None:
    first = demo_load(actor=system_actor)
    second = demo_load(actor=system_actor)
    assert len(first) == len(DEMO_ACCOUNTS) == 16
    assert all(a.created for a in first)
    assert not any(a.created for a in second)
    assert first[0].password == second[0].password
    admin = User.objects.get(username="admin")
    assert admin.is_superuser
    assert admin.check_password(first[0].password)
    assert User.objects.get(username="monitor").check_password(first[0].password)
    assert AuditEvent.objects.filter(action__startswith="user.").count() == 16


def test_the_demo_accounts_share_one_hash_of_their_one_password(
    system_actor: SystemActor,
) -> None:
    # Argon2 costs a tenth of a second a hash on purpose: `make run` makes one, not twenty.
    accounts = demo_load(actor=system_actor, password="one long demo password")
    users = User.objects.filter(username__in=[a.username for a in accounts])
    assert len({user.password for user in users}) == 1
    assert all(user.check_password("one long demo password") for user in users)
    assert not users[0].check_password("another long password")


def test_the_demo_password_can_be_chosen(system_actor: SystemActor) -> None:
    demo_load(actor=system_actor)
    demo_load(actor=system_actor, password="another long password")
    assert User.objects.get(username="admin").check_password("another long password")
    assert AuditEvent.objects.filter(action="user.password_changed").count() == 16


def test_the_demo_studies_are_loaded_published_and_open_once(system_actor: SystemActor) -> None:
    from carnet.demo import demo_studies_load
    from carnet.studies.models import Study, StudyVersion

    demo_load(actor=system_actor)
    first = demo_studies_load(actor=system_actor)
    second = demo_studies_load(actor=system_actor)
    assert [(s.version, s.mode) for s in first] == [(1, "production"), (1, "production")]
    assert [s.outcome for s in second] == ["unchanged", "unchanged"]
    assert Study.objects.count() == 2
    assert StudyVersion.objects.filter(status="published").count() == 2
    phase_three = Study.objects.get(identifier=first[0].identifier)
    assert phase_three.current_version is not None
    definition = phase_three.current_version.parsed()
    assert len(definition.arms) == 2
    assert any(
        event.schedule and event.schedule.repeat and event.schedule.repeat.start == "previous"
        for event in definition.events
    )


def test_the_demo_inspector_reads_one_study_for_an_inspection_period(
    system_actor: SystemActor,
) -> None:
    from carnet.accounts.models import Membership
    from carnet.accounts.permissions import may
    from carnet.accounts.roles import Action, Role
    from carnet.core.clock import utc_today
    from carnet.demo import demo_studies_load
    from carnet.studies.models import Study

    demo_load(actor=system_actor)
    demo_studies_load(actor=system_actor)
    inspector = User.objects.get(username="inspector")
    grants = list(Membership.objects.filter(user=inspector).select_related("study"))
    assert [(g.study.identifier, g.role, g.site_id) for g in grants] == [
        ("MAINTAIN-CRC", Role.INSPECTOR, None)
    ]
    assert grants[0].ends_on is not None
    assert grants[0].ends_on > utc_today()
    inspected = Study.objects.get(identifier="MAINTAIN-CRC")
    other = Study.objects.get(identifier="ACC-209")
    assert may(inspector, Action.VIEW_AUDIT_TRAIL, study=inspected)
    assert not may(inspector, Action.ENTER_DATA, study=inspected)
    assert not may(inspector, Action.VIEW_AUDIT_TRAIL, study=other)
