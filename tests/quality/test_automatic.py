"""Soft checks become automatic queries: one per check (per row of a repeating group), closed
by the correction that clears the check, and left alone once the site confirms the values."""

from __future__ import annotations

import pytest

from carnet.audit.models import AuditEvent
from carnet.capture.models import CheckResult
from carnet.messaging.models import Message
from carnet.quality.automatic import acknowledged_check_keys, automatic_queries_sync
from carnet.quality.models import Query, QuerySettings
from carnet.quality.services import query_answer, query_confirm
from tests.quality.conftest import Quality

pytestmark = pytest.mark.django_db


def test_a_soft_check_that_fires_opens_an_automatic_query_and_the_correction_closes_it(
    quality: Quality, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        quality.save(values={"sbp": 80, "dbp": 90})
    query = Query.objects.get()
    assert (query.kind, query.state, query.check_name, query.item) == (
        "automatic",
        "open",
        "bp_order",
        "sbp",  # the first item the check reads
    )
    assert query.site == quality.subject.site
    opened = AuditEvent.objects.get(action="query.opened")
    assert opened.target_id == str(query.pk)
    assert opened.actor_label.startswith("julie")
    # The site hears of it: its data entry person, not the other site's.
    assert Message.objects.filter(recipient=quality.entry).count() == 1
    assert not Message.objects.filter(recipient=quality.capture.other_site).exists()

    quality.save(values={"sbp": 130})
    query.refresh_from_db()
    assert (query.state, query.resolution) == ("closed", "corrected")
    closed = AuditEvent.objects.get(action="query.closed")
    assert closed.old == {"state": "open"}
    assert closed.new["resolution"] == "corrected"


def test_a_save_that_keeps_the_check_firing_opens_nothing_more(quality: Quality) -> None:
    quality.save(values={"sbp": 80, "dbp": 90})
    quality.save(values={"weight": 71})
    assert Query.objects.count() == 1


def test_the_study_can_want_a_person_to_close_the_query(quality: Quality) -> None:
    QuerySettings.objects.create(study=quality.study, auto_close=False)
    quality.save(values={"sbp": 80, "dbp": 90})
    quality.save(values={"sbp": 130})
    assert Query.objects.get().state == "open"
    assert not CheckResult.objects.get().open


def test_a_check_about_rows_opens_a_query_on_the_row_it_questions(quality: Quality) -> None:
    quality.save(form="lesions", rows={"target": {1: {"diameter": 20}, 2: {"diameter": 150}}})
    result = CheckResult.objects.get(check_name="lesion_large")
    assert result.row == 2
    query = Query.objects.get()
    assert (query.item, query.row, query.state) == ("diameter", 2, "open")
    quality.save(form="lesions", rows={"target": {3: {"diameter": 120}}})
    assert sorted(Query.objects.values_list("row", "state")) == [(2, "open"), (3, "open")]
    quality.save(form="lesions", rows={"target": {2: {"diameter": 50}}})
    assert sorted(Query.objects.values_list("row", "state")) == [(2, "closed"), (3, "open")]


def test_values_confirmed_correct_stay_and_later_checks_respect_it_while_unchanged(
    quality: Quality,
) -> None:
    quality.save(values={"sbp": 80, "dbp": 90})
    query = Query.objects.get()
    query_confirm(actor=quality.entry, query=query, text="Measured twice: the patient's usual")
    query.refresh_from_db()
    assert (query.state, query.resolution) == ("closed", "confirmed")
    assert AuditEvent.objects.get(action="query.confirmed").reason.startswith("Measured twice")
    instance = query.form_instance
    assert acknowledged_check_keys(study=quality.study) == {(instance.pk, "bp_order", 0)}
    quality.save(values={"weight": 72})  # another item: the acknowledgement holds
    assert Query.objects.count() == 1
    quality.save(values={"sbp": 85})  # the questioned values change and still fail the check
    assert acknowledged_check_keys(study=quality.study) == set()
    assert Query.objects.filter(state="open").count() == 1


def test_the_bulk_sync_is_idempotent_and_respects_acknowledgements(quality: Quality) -> None:
    QuerySettings.objects.create(study=quality.study, auto_close=True)
    quality.save(form="lesions", rows={"target": {1: {"diameter": 150}, 2: {"diameter": 160}}})
    first, second = Query.objects.order_by("row")
    query_confirm(actor=quality.entry, query=first, text="Bulky disease, confirmed on the scan")
    ids = list(CheckResult.objects.values_list("pk", flat=True))
    # A re-check run twice: nothing new; the confirmed row stays closed.
    assert automatic_queries_sync(
        study=quality.study,
        opened_check_result_ids=ids,
        closed_check_result_ids=[],
        actor=quality.manager,
        reason="whole-study re-check",
    ) == (0, 0)
    CheckResult.objects.filter(pk=second.check_result_id).update(open=False)
    events = AuditEvent.objects.count()
    assert automatic_queries_sync(
        study=quality.study,
        opened_check_result_ids=ids,
        closed_check_result_ids=[second.check_result_id],
        actor=quality.manager,
        reason="whole-study re-check",
    ) == (0, 1)
    assert AuditEvent.objects.count() == events + 1
    assert automatic_queries_sync(
        study=quality.study,
        opened_check_result_ids=ids,
        closed_check_result_ids=[second.check_result_id],
        actor=quality.manager,
        reason="whole-study re-check",
    ) == (0, 0)


def test_the_bulk_sync_opens_for_new_results_in_one_go(quality: Quality) -> None:
    quality.save(values={"sbp": 80, "dbp": 90})
    result = CheckResult.objects.get()
    query = Query.objects.get()
    query_answer(actor=quality.entry, query=query, text="Checked")
    # A waiting query (answered) is one: the sync opens no second one.
    assert automatic_queries_sync(
        study=quality.study,
        opened_check_result_ids=[result.pk],
        closed_check_result_ids=[],
        actor=quality.manager,
        reason="re-check",
    ) == (0, 0)


def test_the_daily_digest_reaches_the_sites_people_once_a_day(quality: Quality) -> None:
    from carnet.quality.notifications import digests_send

    quality.save(values={"sbp": 80, "dbp": 90})
    assert digests_send() == 0  # the study wants no digest
    QuerySettings.objects.create(study=quality.study, daily_digest=True)
    before = Message.objects.count()
    assert digests_send() == 2  # the data entry person and the investigator of site A
    subjects = set(Message.objects.order_by("-pk")[:2].values_list("subject", flat=True))
    assert subjects == {"MINI: 1 query waits at site 01"}
    digests_send()
    assert Message.objects.count() == before + 2  # once a day
