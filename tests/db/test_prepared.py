"""A prepared query gives what the ORM gives: the same rows, fields, related rows and locks."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.db import connection, transaction
from django.db.models import Model, Q, QuerySet
from django.db.transaction import TransactionManagementError
from django.test.utils import CaptureQueriesContext

from carnet.accounts.models import Membership, StudySite
from carnet.accounts.permissions import memberships_in_force_now
from carnet.accounts.sign_in import _IN_FORCE_WITH_ROLES, two_factor_required
from carnet.capture.models import FormInstance
from carnet.capture.services import _INSTANCE_LOCKED, form_save
from carnet.coding.services import _TARGETS
from carnet.database_lock.selectors import _LOCK_IN_FORCE
from carnet.db import prepared
from carnet.db.prepared import Prepared
from carnet.oversight.selectors import _LOCK_COVERING, _SIGNATURES_COVERING_LOCKED
from carnet.randomization.factor_changes import _ALLOCATION_FACTORS
from carnet.subjects.selectors import _SUBJECT_NAMED_AT, subject_for_actor
from carnet.subjects.services import _ENTRY_WITHDRAWALS
from tests.capture.conftest import Capture

pytestmark = pytest.mark.django_db


def _fields(instance: Model) -> dict[str, object]:
    return {f.attname: getattr(instance, f.attname) for f in instance._meta.concrete_fields}


def _sites(study_id: int, code: str) -> QuerySet[StudySite]:
    return StudySite.objects.filter(study_id=study_id, code=code).select_related("centre")


SITES = Prepared(_sites, int, str)


def test_a_prepared_query_gives_the_orms_rows_with_their_related_rows(capture: Capture) -> None:
    site = capture.subject.site
    for _ in range(2):  # the first call prepares, the second runs the statement prepared
        found = SITES(site.study_id, site.code)
        expected = list(_sites(site.study_id, site.code))
        assert [_fields(s) for s in found] == [_fields(s) for s in expected]
        assert _fields(found[0].centre) == _fields(expected[0].centre)
        assert found[0]._state.db == "default"
        assert not found[0]._state.adding
    assert SITES(site.study_id, "no such code") == []


def test_a_prepared_query_sends_one_statement_and_compiles_once(capture: Capture) -> None:
    site = capture.subject.site
    SITES(site.study_id, site.code)
    with CaptureQueriesContext(connection) as queries:
        found = SITES(site.study_id, site.code)
        assert found[0].centre.code  # read with the site, not after
    assert len(queries) == 1


def test_values_of_another_kind_go_through_the_orm(capture: Capture) -> None:
    site = capture.subject.site
    assert SITES(site.study_id, None) == list(_sites(site.study_id, None))  # type: ignore[arg-type]


def _containing(code: str) -> QuerySet[StudySite]:
    return StudySite.objects.filter(code__contains=code)


def test_a_value_the_query_changes_is_never_prepared(capture: Capture) -> None:
    # A LIKE pattern wraps the value: the ORM builds it each time, and the rows are still right.
    code = capture.subject.site.code
    contained = Prepared(_containing, str)
    for _ in range(2):
        assert [s.pk for s in contained(code)] == [s.pk for s in _containing(code)]
    assert contained._statements[(connection.vendor, False)] is None


def _vitals_saved(capture: Capture) -> None:
    form_save(
        actor=capture.entry,
        subject=capture.subject,
        event="baseline",
        form="vitals",
        base_version=0,
        values={"weight": "70"},
    )


def _instance_locked(subject_id: int, form: str) -> QuerySet[FormInstance]:
    found = FormInstance.objects.filter(subject_id=subject_id, form=form).order_by()
    return found.select_for_update(of=("self",))[:1]


def _refused(run: object) -> bool:
    try:
        run()  # type: ignore[operator]
    except TransactionManagementError:
        return True
    return False


@pytest.mark.django_db(transaction=True)
def test_a_locking_query_is_refused_outside_a_transaction_as_by_the_orm(capture: Capture) -> None:
    _vitals_saved(capture)
    locked = Prepared(_instance_locked, int, str)
    with transaction.atomic():
        found = locked(capture.subject.pk, "vitals")
        again = locked(capture.subject.pk, "vitals")
    assert [_fields(f) for f in found] == [_fields(f) for f in again]
    assert found[0].form == "vitals"
    # PostgreSQL refuses FOR UPDATE outside a transaction; SQLite sends none and refuses nothing.
    orm = _refused(lambda: list(_instance_locked(capture.subject.pk, "vitals")))
    assert orm == (connection.vendor == "postgresql")
    assert _refused(lambda: locked(capture.subject.pk, "vitals")) == orm


def test_only_int_str_date_and_datetime_values_can_be_declared() -> None:
    with pytest.raises(TypeError, match="int, str, date or datetime"):
        Prepared(_sites, int, float)


def _ended_memberships(user_id: int, day: date, now: datetime) -> QuerySet[Membership]:
    return memberships_in_force_now(user_id, day, now).order_by("pk")


def test_dates_and_aware_times_are_prepared_as_the_orm_sends_them(capture: Capture) -> None:
    # SQLite takes them as text, PostgreSQL as dates and times: the statement gets what the
    # ORM would have sent, whatever the database.
    user = capture.entry
    membership = Membership.objects.filter(user=user).order_by("pk").first()
    assert membership is not None
    ended = datetime(2026, 3, 2, 14, 30, 15, 250_000, tzinfo=UTC)
    Membership.objects.filter(pk=membership.pk).update(ended_at=ended)
    in_force = Prepared(_ended_memberships, int, date, datetime)
    paris = ZoneInfo("Europe/Paris")
    moments = [
        ended - timedelta(microseconds=1),
        ended,
        ended + timedelta(microseconds=1),
        ended.astimezone(paris) - timedelta(seconds=1),  # another zone: the same instant
        ended.astimezone(paris),
    ]
    days = [membership.starts_on - timedelta(days=1), membership.starts_on, date(2026, 3, 2)]
    for day in days:
        for now in moments:
            expected = [m.pk for m in _ended_memberships(user.pk, day, now)]
            assert [m.pk for m in in_force(user.pk, day, now)] == expected, (day, now)
    assert in_force._statements[(connection.vendor, False)] is not None
    # The cases tell the statement's conditions apart: each one keeps and drops a row.
    assert in_force(user.pk, membership.starts_on, ended - timedelta(microseconds=1))
    assert not in_force(user.pk, membership.starts_on, ended)
    assert not in_force(user.pk, membership.starts_on - timedelta(days=1), moments[0])


def test_a_naive_time_is_left_to_the_orm(capture: Capture) -> None:
    # The ORM makes a naive time aware with a warning (an error in this suite): it still does.
    user = capture.entry
    in_force = Prepared(_ended_memberships, int, date, datetime)
    in_force(user.pk, date(2026, 3, 2), datetime(2026, 3, 2, tzinfo=UTC))
    with pytest.raises(RuntimeWarning, match="naive datetime"):
        in_force(user.pk, date(2026, 3, 2), datetime(2026, 3, 2))


def _none_of(study_id: int) -> QuerySet[StudySite]:
    return StudySite.objects.filter(study_id=study_id, pk__in=[])


def test_a_query_known_to_find_nothing_is_left_to_the_orm(capture: Capture) -> None:
    nothing = Prepared(_none_of, int)
    assert nothing(capture.subject.site.study_id) == []
    assert nothing._statements[(connection.vendor, False)] is None


def _ignoring(study_id: int, code: str) -> QuerySet[StudySite]:
    return StudySite.objects.filter(study_id=study_id)


def test_a_value_missing_from_the_statement_is_never_prepared(capture: Capture) -> None:
    # Wrapped or cast past recognition looks the same as unused: the ORM builds it each time.
    site = capture.subject.site
    ignoring = Prepared(_ignoring, int, str)
    assert [s.pk for s in ignoring(site.study_id, "x")] == [
        s.pk for s in _ignoring(site.study_id, "x")
    ]
    assert ignoring._statements[(connection.vendor, False)] is None


def _instance_at(subject_id: int, occurrence: int, repeat: int) -> QuerySet[FormInstance]:
    return FormInstance.objects.filter(
        subject_id=subject_id, occurrence=occurrence, repeat=repeat
    ).order_by("pk")


def test_values_of_positive_integer_columns_are_prepared(capture: Capture) -> None:
    # A value outside a column's range is answered by Django without asking, leaving its
    # condition out of the statement: the values it prepares with must fit every integer column.
    _vitals_saved(capture)
    at = Prepared(_instance_at, int, int, int)
    for _ in range(2):
        assert [f.pk for f in at(capture.subject.pk, 1, 1)] == [
            f.pk for f in _instance_at(capture.subject.pk, 1, 1)
        ]
    assert at(capture.subject.pk, 2, 1) == []
    # Out of the column's range, or of its type's: no rows, as from the ORM.
    assert at(capture.subject.pk, -1, 1) == []
    assert at(capture.subject.pk, 2**40, 1) == []
    assert at._statements[(connection.vendor, False)] is not None


def _occurrence_or(subject_id: int, occurrence: int) -> QuerySet[FormInstance]:
    # A constant equal to a value the query is prepared with stays a constant.
    constant = prepared._marker(int, 0)
    return FormInstance.objects.filter(
        Q(occurrence=constant) | Q(occurrence=occurrence), subject_id=subject_id
    ).order_by("pk")


def test_a_constant_equal_to_a_preparing_value_stays_a_constant(capture: Capture) -> None:
    _vitals_saved(capture)
    either = Prepared(_occurrence_or, int, int)
    for _ in range(2):
        assert [f.pk for f in either(capture.subject.pk, 1)] == [
            f.pk for f in _occurrence_or(capture.subject.pk, 1)
        ]
    assert either._statements[(connection.vendor, False)] is not None


def test_the_second_factor_question_of_a_token_is_prepared(capture: Capture) -> None:
    # Asked on every request of a token (or page) of a person without a second factor. A
    # study's own list of roles, read with the memberships, is tested at sign-in
    # (tests/web/test_sign_in.py).
    for _ in range(2):
        assert not two_factor_required(capture.entry)
    assert _IN_FORCE_WITH_ROLES._statements[(connection.vendor, False)] is not None


@pytest.mark.django_db(transaction=True)
def test_the_reads_of_every_save_are_prepared(capture: Capture) -> None:
    _vitals_saved(capture)
    subject = subject_for_actor(
        capture.entry, study=capture.subject.study, identifier=capture.subject.identifier
    )
    assert subject.pk == capture.subject.pk
    reads: tuple[Prepared[Any], ...] = (_INSTANCE_LOCKED, _LOCK_COVERING, _LOCK_IN_FORCE)
    reads += (_ENTRY_WITHDRAWALS, _SIGNATURES_COVERING_LOCKED, _TARGETS)
    reads += (_ALLOCATION_FACTORS, _SUBJECT_NAMED_AT)
    for query in reads:
        statements = [
            v for (vendor, _), v in query._statements.items() if vendor == connection.vendor
        ]
        assert statements, query._build.__name__
        assert None not in statements, query._build.__name__
