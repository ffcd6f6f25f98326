"""Centres, sites, memberships and tokens: what administrators do, and what they are refused."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

from carnet.accounts.models import ApiToken
from carnet.accounts.permissions import is_unblinded, may, site_scope
from carnet.accounts.roles import Action, Role
from carnet.accounts.services import (
    centre_add,
    role_grant,
    role_revoke,
    site_add,
    token_authenticate,
    token_create,
    token_revoke,
    user_deactivate,
)
from carnet.audit.models import AuditEvent
from carnet.core.clock import utc_today
from carnet.core.errors import ValidationError
from carnet.studies.definition import study_file_read
from carnet.studies.services import study_load
from tests.accounts.personas import ADMIN, FIXTURE, person, world

pytestmark = pytest.mark.django_db


def test_an_investigator_at_site_a_may_enter_data_there_and_nowhere_else() -> None:
    w = world()
    alice = person("alice", study=w.study, role=Role.INVESTIGATOR, sites=[w.site_a])
    assert may(alice, Action.ENTER_DATA, study=w.study, site=w.site_a)
    assert not may(alice, Action.ENTER_DATA, study=w.study, site=w.site_b)
    assert not may(alice, Action.EXPORT, study=w.study)
    assert not is_unblinded(alice, study=w.study)


def test_a_monitor_for_a_and_b_covers_both_sites_only() -> None:
    w = world()
    bob = person("bob", study=w.study, role=Role.MONITOR, sites=[w.site_a, w.site_b])
    scope = site_scope(bob, Action.MONITOR, study=w.study)
    assert scope.site_ids == {w.site_a.pk, w.site_b.pk}
    assert not scope.all_sites
    assert not may(bob, Action.ENTER_DATA, study=w.study, site=w.site_a)


def test_blinding_is_a_property_of_the_roles_held() -> None:
    w = world()
    blinded = person("blinded", study=w.study, role=Role.STATISTICIAN)
    unblinded = person("unblinded", study=w.study, role=Role.UNBLINDED_STATISTICIAN)
    assert not is_unblinded(blinded, study=w.study)
    assert is_unblinded(unblinded, study=w.study)


def test_an_expired_membership_grants_nothing() -> None:
    w = world()
    carol = person("carol", study=w.study, role=Role.DATA_ENTRY, sites=[w.site_a], expired=True)
    assert not may(carol, Action.VIEW_STUDY, study=w.study)
    assert may(
        carol, Action.ENTER_DATA, study=w.study, site=w.site_a, on=utc_today() - timedelta(days=2)
    )


def test_a_deactivated_account_has_no_rights_and_no_tokens() -> None:
    w = world()
    dave = person("dave", study=w.study, role=Role.DATA_MANAGER)
    _token, key = token_create(actor=ADMIN, user=dave, study=w.study)
    user_deactivate(actor=ADMIN, user=dave, reason="left the unit")
    dave.refresh_from_db()
    assert not may(dave, Action.VIEW_STUDY, study=w.study)
    assert token_authenticate(key) is None
    assert dave.pk is not None  # kept, never deleted


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"role": "cook"}, "'cook' is not a role"),
        ({"role": Role.INVESTIGATOR, "site": None}, "is a site role: name the site"),
        (
            {"starts_on": date(2026, 5, 1), "ends_on": date(2026, 4, 1)},
            r"would end \(2026-04-01\) before it starts",
        ),
    ],
)
def test_bad_grants_are_refused_and_nothing_is_written(
    change: dict[str, object], message: str
) -> None:
    w = world()
    erin = person("erin")
    grant: dict[str, object] = {
        "user": erin,
        "study": w.study,
        "site": w.site_a,
        "role": Role.DATA_ENTRY,
        "starts_on": date(2026, 1, 1),
        "ends_on": None,
    }
    grant.update(change)
    before = AuditEvent.objects.count()
    with pytest.raises(ValidationError, match=message):
        role_grant(actor=ADMIN, **grant)  # type: ignore[arg-type]
    assert AuditEvent.objects.count() == before


def test_a_site_of_another_study_is_refused(tmp_path: Path) -> None:
    w = world()
    other_file = tmp_path / "other.yaml"
    other_file.write_text(FIXTURE.read_text().replace("identifier: MINI", "identifier: OTHER"))
    other = study_load(
        actor=ADMIN, study_file=study_file_read(other_file), source_name="other.yaml"
    ).study
    with pytest.raises(ValidationError, match="Site 01 is not a site of OTHER"):
        role_grant(
            actor=ADMIN,
            user=person("frank"),
            study=other,
            site=w.site_a,
            role=Role.DATA_ENTRY,
            starts_on=date(2026, 1, 1),
        )


def test_overlapping_periods_of_the_same_role_are_refused() -> None:
    w = world()
    gina = person("gina")
    role_grant(
        actor=ADMIN,
        user=gina,
        study=w.study,
        site=w.site_a,
        role=Role.DATA_ENTRY,
        starts_on=date(2026, 1, 1),
        ends_on=date(2026, 6, 30),
    )
    with pytest.raises(ValidationError, match="the periods would overlap"):
        role_grant(
            actor=ADMIN,
            user=gina,
            study=w.study,
            site=w.site_a,
            role=Role.DATA_ENTRY,
            starts_on=date(2026, 6, 1),
        )
    role_grant(
        actor=ADMIN,
        user=gina,
        study=w.study,
        site=w.site_a,
        role=Role.DATA_ENTRY,
        starts_on=date(2026, 7, 1),
    )


def test_revoking_ends_the_membership_and_keeps_it_in_the_log() -> None:
    w = world()
    hugo = person("hugo", study=w.study, role=Role.MONITOR, sites=[w.site_a])
    membership = role_revoke(
        actor=ADMIN,
        user=hugo,
        study=w.study,
        site=w.site_a,
        role=Role.MONITOR,
        on=utc_today() - timedelta(days=1),
        reason="end of contract",
    )
    assert membership.ends_on == utc_today() - timedelta(days=1)
    assert not may(hugo, Action.MONITOR, study=w.study, site=w.site_a)
    event = AuditEvent.objects.filter(action="role.revoked").get()
    assert event.chain == "study:MINI"
    assert event.reason == "end of contract"


def test_tokens_are_32_hex_characters_shown_once_and_stored_hashed() -> None:
    w = world()
    ines = person("ines", study=w.study, role=Role.DATA_MANAGER)
    token, key = token_create(actor=ADMIN, user=ines, study=w.study, label="R scripts")
    assert len(key) == 32
    assert int(key, 16) >= 0
    stored = ApiToken.objects.get(pk=token.pk)
    assert key not in (stored.key_hash, stored.prefix)
    assert stored.prefix == key[:6]
    found = token_authenticate(key.lower())
    assert found is not None
    assert found.last_used_at is not None
    token_revoke(actor=ADMIN, token=token, reason="leaked in a ticket")
    assert token_authenticate(key) is None
    actions = list(
        AuditEvent.objects.filter(chain="study:MINI", action__startswith="token.").values_list(
            "action", flat=True
        )
    )
    assert actions == ["token.created", "token.revoked"]
    assert key not in str(list(AuditEvent.objects.values_list("new", flat=True)))


def test_a_token_needs_a_role_in_force() -> None:
    w = world()
    with pytest.raises(ValidationError, match="has no role in force on MINI"):
        token_create(actor=ADMIN, user=person("jules"), study=w.study)


def test_a_centre_needs_a_real_time_zone_and_a_unique_code() -> None:
    with pytest.raises(ValidationError, match="'Europe/Montpellier' is not a time zone"):
        centre_add(actor=ADMIN, code="X", name="X", time_zone="Europe/Montpellier")
    centre_add(actor=ADMIN, code="CLB", name="Centre Léon Bérard")
    with pytest.raises(ValidationError, match="already a centre CLB"):
        centre_add(actor=ADMIN, code="clb", name="Again")


def test_a_centre_is_a_site_of_a_study_once() -> None:
    w = world()
    with pytest.raises(ValidationError, match="ICM is already a site of MINI"):
        site_add(actor=ADMIN, study=w.study, centre=w.site_a.centre)
