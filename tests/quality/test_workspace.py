"""The data manager's workspace: counts per site that move as queries open and close and as
forms are reviewed; a monitor has none."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from carnet.accounts.permissions import PermissionDenied
from carnet.audit.models import AuditEvent
from carnet.core.clock import utc_now
from carnet.quality.selectors import forms_to_review, workspace
from carnet.quality.services import data_review_mark, query_answer, query_raise
from tests.accounts.personas import with_second_factor
from tests.quality.conftest import Quality

pytestmark = pytest.mark.django_db


def site_a(quality: Quality):  # type: ignore[no-untyped-def]
    (found,) = [
        w for w in workspace(actor=quality.manager, study=quality.study) if w.site.code == "01"
    ]
    return found


def test_the_counts_move_with_queries_and_reviews(quality: Quality) -> None:
    before = site_a(quality)
    assert before.queries_by_age == {"week": 0, "month": 0, "quarter": 0, "older": 0}
    outcome = quality.save(values={"sbp": 80, "dbp": 90, "weight": 70})
    manual = query_raise(
        actor=quality.monitor,
        subject=quality.subject,
        form_instance=outcome.form_instance,
        text="?",
    )
    now = site_a(quality)
    assert now.queries_by_age["week"] == 2
    assert now.subjects_with_checks == 1
    assert now.forms_in_progress == 1
    assert now.forms_to_review == 1
    query_answer(actor=quality.entry, query=manual, text="checked")
    assert site_a(quality).answered == 1
    with time_machine.travel(utc_now() + timedelta(days=40)):
        aged = site_a(quality)
        assert aged.queries_by_age == {"week": 0, "month": 0, "quarter": 2, "older": 0}
    data_review_mark(actor=quality.manager, form_instance=outcome.form_instance)
    assert site_a(quality).forms_to_review == 0
    assert AuditEvent.objects.filter(action="form.data_reviewed").count() == 1
    quality.save(values={"sbp": 130})  # a change after the review: to review again
    assert site_a(quality).forms_to_review == 1
    assert site_a(quality).subjects_with_checks == 0
    assert [f.pk for f in forms_to_review(actor=quality.manager, study=quality.study)] == [
        outcome.form_instance.pk
    ]


def test_only_data_managers_have_a_workspace_and_mark_reviews(quality: Quality) -> None:
    outcome = quality.save(values={"weight": 70})
    with pytest.raises(PermissionDenied):
        workspace(actor=quality.monitor, study=quality.study)
    with pytest.raises(PermissionDenied):
        data_review_mark(actor=quality.monitor, form_instance=outcome.form_instance)
    client = Client()
    client.force_login(quality.monitor)
    url = reverse("quality:workspace", args=[quality.study.identifier])
    assert client.get(url).status_code == 404
    manager = with_second_factor(quality.manager)
    client.force_login(manager)
    session = client.session  # signed in with the second factor, as the sign-in page does
    session[DEVICE_ID_SESSION_KEY] = TOTPDevice.objects.get(user=manager).persistent_id
    session.save()
    page = client.get(url)
    assert page.status_code == 200
    assert 'id="site-01"' in page.content.decode()
