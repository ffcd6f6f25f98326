"""The study's query options through the API and the command line: every member of the study
reads them; a data manager of the whole study changes them with a reason (one audit event);
a data manager of some sites, a monitor or a site cannot; the command line refuses an unknown
option or a change without a reason and changes nothing."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from carnet.accounts.models import User
from carnet.accounts.roles import Role
from carnet.accounts.services import token_create
from carnet.audit.models import AuditEvent
from carnet.quality.automatic import query_settings_of
from tests.accounts.personas import ADMIN, person, with_second_factor
from tests.quality.conftest import Quality

pytestmark = pytest.mark.django_db


def _client(user: User, quality: Quality) -> Client:
    from django_otp.plugins.otp_totp.models import TOTPDevice

    if not TOTPDevice.objects.filter(user=user).exists():
        with_second_factor(user)
    _token, key = token_create(actor=ADMIN, user=user, study=quality.study)
    return Client(headers={"authorization": f"Bearer {key}"})


def _path(quality: Quality) -> str:
    return f"/api/studies/{quality.study.identifier}/queries/settings"


def test_a_data_manager_of_the_whole_study_changes_them_with_a_reason(quality: Quality) -> None:
    client = _client(quality.manager, quality)
    assert client.get(_path(quality)).json() == {
        "auto_close": True,
        "close_reserved_to_raiser": False,
        "daily_digest": False,
    }

    answer = client.put(
        _path(quality),
        {"auto_close": False, "reason": "the data manager closes them"},
        content_type="application/json",
    )

    assert answer.status_code == 200, answer.content
    assert answer.json() == {
        "auto_close": False,
        "close_reserved_to_raiser": False,
        "daily_digest": False,
    }
    assert not query_settings_of(quality.study).auto_close
    event = AuditEvent.objects.get(action="query.settings_changed")
    assert event.actor_id == quality.manager.pk
    assert event.reason == "the data manager closes them"
    assert event.old["auto_close"] is True
    assert event.new["auto_close"] is False
    assert event.new["daily_digest"] is False  # left out: kept


def test_a_change_without_a_reason_is_refused_and_changes_nothing(quality: Quality) -> None:
    answer = _client(quality.manager, quality).put(
        _path(quality), {"auto_close": False, "reason": "  "}, content_type="application/json"
    )

    assert answer.status_code == 400
    assert "Say why" in answer.json()["detail"]
    assert query_settings_of(quality.study).auto_close
    assert not AuditEvent.objects.filter(action="query.settings_changed").exists()


def test_site_staff_monitors_and_a_data_manager_of_one_site_read_but_cannot_change(
    quality: Quality,
) -> None:
    w = quality.capture.world
    manager_of_a = person("dm-a", study=quality.study, role=Role.DATA_MANAGER, sites=[w.site_a])
    for user in (quality.entry, quality.monitor, manager_of_a):
        client = _client(user, quality)
        assert client.get(_path(quality)).status_code == 200
        answer = client.put(
            _path(quality),
            {"daily_digest": True, "reason": "we would like one"},
            content_type="application/json",
        )
        assert answer.status_code == 403, user.username
    assert not query_settings_of(quality.study).daily_digest
    assert not AuditEvent.objects.filter(action="query.settings_changed").exists()


def test_the_command_line_shows_and_changes_them_audited(quality: Quality) -> None:
    shown = StringIO()
    call_command("queries", "settings", quality.study.identifier, stdout=shown)
    assert shown.getvalue().splitlines() == [
        "auto_close = on",
        "close_reserved_to_raiser = off",
        "daily_digest = off",
    ]

    out = StringIO()
    call_command(
        "queries",
        "settings",
        quality.study.identifier,
        "--set",
        "close_reserved_to_raiser=on",
        "--set",
        "daily_digest=yes",
        "--reason",
        "sponsor's request",
        stdout=out,
    )

    assert out.getvalue().splitlines() == [
        "auto_close = on",
        "close_reserved_to_raiser = on",
        "daily_digest = on",
    ]
    event = AuditEvent.objects.get(action="query.settings_changed")
    assert event.actor_id is None
    assert event.actor_label.startswith("carnet queries settings")
    assert event.reason == "sponsor's request"


@pytest.mark.parametrize(
    ("pairs", "reason", "message"),
    [
        (["no_such_option=on"], "why", "no_such_option=on: not a query setting"),
        (["daily_digest=perhaps"], "why", "daily_digest=perhaps: the value is on or off."),
        (["daily_digest=on"], "", "Say why the query settings change"),
    ],
)
def test_the_command_line_refuses_an_unknown_option_a_bad_value_or_no_reason(
    quality: Quality, pairs: list[str], reason: str, message: str
) -> None:
    arguments = ["queries", "settings", quality.study.identifier, "--reason", reason]
    for pair in pairs:
        arguments += ["--set", pair]
    with pytest.raises(CommandError, match=message):
        call_command(*arguments, stdout=StringIO())
    assert not query_settings_of(quality.study).daily_digest
    assert not AuditEvent.objects.filter(action="query.settings_changed").exists()
