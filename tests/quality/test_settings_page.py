"""The study's query settings page: a data manager of the whole study changes who closes
automatic queries (and the other options); audited; others cannot see it."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from carnet.audit.models import AuditEvent
from carnet.quality.automatic import query_settings_of
from tests.quality.conftest import Quality
from tests.web.helpers import enrol

pytestmark = pytest.mark.django_db


def test_a_data_manager_makes_a_person_close_automatic_queries(quality: Quality) -> None:
    client = Client()
    client.force_login(quality.manager)
    enrol(client)  # a data manager signs in with a second factor
    page = reverse("quality:settings", args=[quality.study.identifier])
    shown = client.get(page)
    assert shown.status_code == 200
    assert 'name="auto_close"' in shown.content.decode()
    assert query_settings_of(quality.study).auto_close

    answer = client.post(page, {"daily_digest": "on", "reason": "sites asked for a digest"})

    assert answer.status_code == 302
    settings = query_settings_of(quality.study)
    assert not settings.auto_close  # unticked: a person closes them
    assert settings.daily_digest
    event = AuditEvent.objects.get(action="query.settings_changed")
    assert event.old["auto_close"] is True
    assert event.new["auto_close"] is False
    assert event.actor_id == quality.manager.pk
    # The save that clears the check no longer closes its query.
    quality.save(values={"sbp": 80, "dbp": 90, "weight": 70})
    quality.save(values={"sbp": 120, "dbp": 80, "weight": 70})
    from carnet.quality.models import Query

    assert Query.objects.get(kind="automatic").state == "open"


def test_site_staff_and_monitors_cannot_see_or_change_it(quality: Quality) -> None:
    page = reverse("quality:settings", args=[quality.study.identifier])
    for person in (quality.entry, quality.monitor):
        client = Client()
        client.force_login(person)
        if client.get("/account/").status_code == 302:
            enrol(client)
        assert client.get(page).status_code == 404
        assert client.post(page, {}).status_code == 404
    assert query_settings_of(quality.study).auto_close
    assert not AuditEvent.objects.filter(action="query.settings_changed").exists()


def test_a_change_without_a_reason_changes_nothing_and_says_why(quality: Quality) -> None:
    client = Client()
    client.force_login(quality.manager)
    enrol(client)
    page = reverse("quality:settings", args=[quality.study.identifier])

    answer = client.post(page, {"daily_digest": "on", "reason": " "}, follow=True)

    assert "Say why the query settings change" in answer.content.decode()
    assert not query_settings_of(quality.study).daily_digest
    assert not AuditEvent.objects.filter(action="query.settings_changed").exists()
