"""The query workflow: who raises, answers, closes, re-opens and cancels; every change audited
with its actor and reason; a monitor of another site sees nothing of site A's queries."""

from __future__ import annotations

import pytest

from carnet.accounts.permissions import PermissionDenied
from carnet.audit.models import AuditEvent
from carnet.core.errors import ValidationError
from carnet.quality.models import Query, QuerySettings
from carnet.quality.selectors import QueryFilters, queries_list, query_get
from carnet.quality.services import (
    query_answer,
    query_cancel,
    query_close,
    query_confirm,
    query_raise,
    query_reopen,
)
from tests.quality.conftest import Quality

pytestmark = pytest.mark.django_db


def raised(quality: Quality, by=None, item: str = "weight") -> Query:  # type: ignore[no-untyped-def]
    outcome = quality.save(values={"weight": 70, "sbp": 120, "dbp": 80})
    return query_raise(
        actor=by or quality.monitor,
        subject=quality.subject,
        form_instance=outcome.form_instance,
        item=item,
        text="The source says 75 kg: <b>check</b>",
    )


def audited(query: Query) -> list[tuple[str, str, str]]:
    return [
        (e.action, e.actor_label.split(" ")[0], e.reason)
        for e in AuditEvent.objects.filter(
            target_type="quality.query", target_id=str(query.pk)
        ).order_by("seq")
    ]


def test_every_state_change_is_audited_with_its_actor_and_reason(quality: Quality) -> None:
    query = raised(quality)
    query_answer(actor=quality.entry, query=query, text="Corrected to 75")
    query_close(actor=quality.monitor, query=query, text="Thanks")
    query_reopen(actor=quality.monitor, query=query, text="Still 70 on the form")
    query_cancel(actor=quality.manager, query=query, text="Raised on the wrong visit")
    assert audited(query) == [
        ("query.opened", "sophie", "The source says 75 kg: <b>check</b>"),
        ("query.answered", "julie", "Corrected to 75"),
        ("query.closed", "sophie", "Thanks"),
        ("query.reopened", "sophie", "Still 70 on the form"),
        ("query.cancelled", "dana", "Raised on the wrong visit"),
    ]
    assert [m.kind for m in query.messages.all()] == [
        "raised",
        "answered",
        "closed",
        "reopened",
        "cancelled",
    ]
    query.refresh_from_db()
    assert query.state == "cancelled"


def test_monitors_data_managers_and_reviewers_raise_and_the_site_does_not(
    quality: Quality,
) -> None:
    for person in (quality.monitor, quality.manager, quality.reviewer):
        raised(quality, by=person)
    with pytest.raises(PermissionDenied):
        raised(quality, by=quality.entry)
    with pytest.raises(PermissionDenied):
        raised(quality, by=quality.monitor_b)


def test_the_site_answers_but_cannot_close(quality: Quality) -> None:
    query = raised(quality)
    with pytest.raises(PermissionDenied):
        query_answer(actor=quality.monitor, query=query, text="I answer myself")
    query_answer(actor=quality.investigator, query=query, text="Right, corrected")
    with pytest.raises(PermissionDenied):
        query_close(actor=quality.investigator, query=query)
    with pytest.raises(PermissionDenied):
        query_cancel(actor=quality.entry, query=query, text="no")


def test_the_raiser_or_a_data_manager_closes_unless_the_study_reserves_it_to_the_raiser(
    quality: Quality,
) -> None:
    query = raised(quality)
    with pytest.raises(PermissionDenied):
        query_close(actor=quality.reviewer, query=query)  # raises, but not this one
    QuerySettings.objects.create(study=quality.study, close_reserved_to_raiser=True)
    with pytest.raises(PermissionDenied, match="reserves closing"):
        query_close(actor=quality.manager, query=query)
    with pytest.raises(PermissionDenied):
        query_close(actor=quality.entry, query=query)
    query_close(actor=quality.monitor, query=query)
    assert Query.objects.get().state == "closed"
    QuerySettings.objects.filter(study=quality.study).update(close_reserved_to_raiser=False)
    query_reopen(actor=quality.manager, query=query, text="A data manager may")


def test_a_refused_change_changes_nothing(quality: Quality) -> None:
    query = raised(quality)
    with pytest.raises(ValidationError):
        query_answer(actor=quality.entry, query=query, text="   ")
    with pytest.raises(ValidationError):
        query_reopen(actor=quality.monitor, query=query, text="not closed")
    with pytest.raises(ValidationError):
        query_confirm(actor=quality.entry, query=query, text="a manual query")
    assert [a for a, _who, _why in audited(query)] == ["query.opened"]
    assert Query.objects.get().state == "open"


def test_a_query_names_a_real_place(quality: Quality) -> None:
    outcome = quality.save(values={"weight": 70})
    with pytest.raises(ValidationError):
        query_raise(
            actor=quality.monitor,
            subject=quality.subject,
            form_instance=outcome.form_instance,
            item="no_such_item",
            text="?",
        )
    visit = query_raise(
        actor=quality.monitor, subject=quality.subject, event="baseline", occurrence=1, text="?"
    )
    whole = query_raise(actor=quality.monitor, subject=quality.subject, text="Consent date?")
    assert (visit.scope, whole.scope) == ("visit", "subject")


def test_a_monitor_of_another_site_cannot_see_its_queries(quality: Quality) -> None:
    query = raised(quality)
    study = quality.study
    assert list(queries_list(actor=quality.monitor_b, study=study)) == []
    with pytest.raises(PermissionDenied):
        query_get(actor=quality.monitor_b, study=study, pk=query.pk)
    with pytest.raises(PermissionDenied):
        query_close(actor=quality.monitor_b, query=query)
    assert [q.pk for q in queries_list(actor=quality.monitor, study=study)] == [query.pk]
    assert [q.pk for q in queries_list(actor=quality.manager, study=study)] == [query.pk]


def test_the_list_filters_by_state_kind_form_raiser_and_age(quality: Quality) -> None:
    from datetime import timedelta

    import time_machine

    from carnet.core.clock import utc_now

    query = raised(quality)
    quality.save(values={"sbp": 80, "dbp": 90})  # an automatic one too
    study, dana = quality.study, quality.manager

    def ids(**filters):  # type: ignore[no-untyped-def]
        return [
            q.pk for q in queries_list(actor=dana, study=study, filters=QueryFilters(**filters))
        ]

    assert len(ids()) == 2
    assert ids(kind="manual") == [query.pk]
    assert ids(raised_by="sophie") == [query.pk]
    assert len(ids(form="vitals", state="active")) == 2
    assert ids(state="answered") == []
    assert ids(min_days=3) == []
    with time_machine.travel(utc_now() + timedelta(days=5)):
        assert len(ids(min_days=3)) == 2
