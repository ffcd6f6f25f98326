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


def test_overdue_visits_are_counted_per_site_as_the_overdue_list_counts_them(
    quality: Quality,
) -> None:
    from carnet.subjects.scheduling import schedule_rebuild
    from carnet.subjects.selectors import overdue_list

    schedule_rebuild(study=quality.study)
    with time_machine.travel(utc_now() + timedelta(days=400)):
        found = {w.site.code: w for w in workspace(actor=quality.manager, study=quality.study)}
        listed = overdue_list(quality.manager, study=quality.study, site="01", per_page=1).total
    assert listed > 0  # the patient at site 01 missed the visits of a year
    assert found["01"].overdue_visits == listed
    assert not found["01"].overdue_more
    assert {code: w.overdue_visits for code, w in found.items() if code != "01"} == {
        code: 0 for code in found if code != "01"
    }


def test_forms_to_review_come_the_most_recently_changed_first(quality: Quality) -> None:
    first = quality.save(values={"weight": 70})
    with time_machine.travel(utc_now() + timedelta(minutes=5)):
        second = quality.save(form="lesions", rows={"target": {1: {"diameter": 20}}})
    with time_machine.travel(utc_now() + timedelta(minutes=10)):
        quality.save(values={"weight": 71})  # the first form changes again: now the latest

    found = forms_to_review(actor=quality.manager, study=quality.study)

    assert [f.pk for f in found] == [first.form_instance.pk, second.form_instance.pk]
    data_review_mark(actor=quality.manager, form_instance=first.form_instance)
    assert [f.pk for f in forms_to_review(actor=quality.manager, study=quality.study)] == [
        second.form_instance.pk
    ]
    assert forms_to_review(actor=quality.manager, study=quality.study, site="02") == []
