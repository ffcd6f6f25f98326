"""rows_insert writes exactly what the ORM would: read back, every field is what was given."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from django.db import connection

from carnet.audit.models import AuditEvent
from carnet.capture.models import FormInstance, ItemValue
from carnet.capture.services import form_save
from carnet.db.bulk import row_insert_unless_taken, rows_insert
from tests.capture.conftest import Capture

pytestmark = pytest.mark.django_db


def _event(seq: int, **fields: object) -> AuditEvent:
    values: dict[str, object] = {
        "chain": "test:bulk",
        "seq": seq,
        "occurred_at": datetime(2026, 11, 22, 23, 5, 1, 123456, tzinfo=UTC),
        "actor_id": None,
        "actor_label": "Zoé « test »",
        "action": "x",
        "target_type": "",
        "target_id": "",
        "old": None,
        "new": {"text": "72.5", "row": 0, "nested": {"list": [1, "deux", None, True]}},
        "reason": "l'apostrophe; -- et un point-virgule",
        "scheme": 1,
        "prev_hash": "0" * 64,
        "hash": f"{seq:064d}",
    }
    values.update(fields)
    return AuditEvent(**values)


@pytest.mark.parametrize("returning", [True, False], ids=["one statement", "without RETURNING"])
def test_rows_come_back_as_given_with_their_ids(
    returning: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not returning:
        features = type(connection.features)
        monkeypatch.setattr(features, "can_return_rows_from_bulk_insert", False)
    paris = timezone(timedelta(hours=1))
    events = [
        _event(1),
        _event(2, old={"text": ""}, new=None, occurred_at=datetime(2026, 1, 2, 3, 4, tzinfo=paris)),
        _event(3, new="a bare string", actor_id=42),
    ]
    rows_insert(events)
    stored = list(AuditEvent.objects.filter(chain="test:bulk").order_by("seq"))
    assert [e.seq for e in stored] == [1, 2, 3]
    if returning:
        assert [e.pk for e in events] == [e.pk for e in stored]
    for given, found in zip(events, stored, strict=True):
        for field in ("actor_id", "actor_label", "old", "new", "reason", "hash", "occurred_at"):
            assert getattr(found, field) == getattr(given, field), field
    assert stored[1].old == {"text": ""}
    assert stored[1].new is None  # SQL NULL, not JSON null


def test_values_read_back_as_the_orm_writes_them(capture: Capture) -> None:
    instance = form_save(
        actor=capture.entry,
        subject=capture.subject,
        event="baseline",
        form="vitals",
        base_version=0,
        values={"weight": "70"},
    ).form_instance
    version = FormInstance.objects.get(pk=instance.pk).study_version
    numbers = [Decimal("72.5"), Decimal("0.0001"), Decimal("-3"), Decimal("123456.123456"), None]

    def value(row: int, number: Decimal | None) -> ItemValue:
        return ItemValue(
            form_instance=instance,
            item="vs_date",
            item_oid="I.VS_DATE",
            group="vs",
            row=row,
            text=str(number),
            number=number,
            day=date(2026, 2, 28) if number else None,
            study_version=version,
            updated_by="Julie",
        )

    written = [value(row, number) for row, number in enumerate(numbers, start=1)]
    rows_insert(written)
    ItemValue.objects.bulk_create([value(row, n) for row, n in enumerate(numbers, start=101)])
    by_row = {v.row: v for v in ItemValue.objects.filter(item="vs_date")}
    for row, given in enumerate(written, start=1):
        ours, orm = by_row[row], by_row[row + 100]
        assert (ours.number, ours.day, ours.text) == (orm.number, orm.day, orm.text)
        assert ours.number == given.number
        assert ours.updated_at == given.updated_at


@pytest.mark.parametrize("returning", [True, False], ids=["one statement", "without RETURNING"])
def test_a_row_already_taken_is_not_inserted_and_the_transaction_goes_on(
    capture: Capture, returning: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not returning:
        features = type(connection.features)
        monkeypatch.setattr(features, "can_return_rows_from_bulk_insert", False)
    where = {
        "subject": capture.subject,
        "event": "baseline",
        "occurrence": 1,
        "form": "vitals",
        "study_version": capture.world.study.current_version,
    }
    first = FormInstance(**where, environment="test", repeat=1)
    assert row_insert_unless_taken(first)
    assert first.pk is not None
    assert first.created_at is not None
    same = FormInstance(**where, environment="test", repeat=1, version=7)
    assert not row_insert_unless_taken(same)
    assert same.pk is None
    # The refused insert broke nothing: the transaction still reads and writes.
    other = FormInstance(**where, environment="test", repeat=2)
    assert row_insert_unless_taken(other)
    stored = FormInstance.objects.filter(subject=capture.subject, form="vitals")
    assert sorted(stored.values_list("repeat", "version")) == [(1, 0), (2, 0)]


def test_more_rows_than_one_statement_takes_are_all_inserted_with_their_ids() -> None:
    # SQLite refuses a statement with more parameters than it was built for (250,000 in
    # Debian's): a bulk import of a hundred patients writes 50,000 audit events at once.
    events = [_event(seq) for seq in range(1, 25001)]
    rows_insert(events)
    stored = list(AuditEvent.objects.filter(chain="test:bulk").order_by("seq"))
    assert [e.seq for e in stored] == list(range(1, 25001))
    assert [e.pk for e in events] == [e.pk for e in stored]


def test_rows_go_in_statements_of_bounded_size_on_every_database() -> None:
    """PostgreSQL refuses a parameter of 1 GB or more ("invalid memory alloc request size"): an
    import of a million values on PostgreSQL appended its 1.1 million audit events as one JSON
    parameter and failed. The rows go in statements of at most ROWS_PER_STATEMENT."""
    from django.test.utils import CaptureQueriesContext

    from carnet.db.bulk import ROWS_PER_STATEMENT

    total = 2 * ROWS_PER_STATEMENT + 1
    events = [_event(seq) for seq in range(1, total + 1)]
    with CaptureQueriesContext(connection) as queries:
        rows_insert(events)
    inserts = [q for q in queries.captured_queries if q["sql"].startswith("INSERT")]
    assert len(inserts) >= 3
    if connection.vendor == "postgresql":
        assert max(len(q["sql"]) for q in inserts) < 64 * 1024 * 1024
    stored = list(AuditEvent.objects.filter(chain="test:bulk").order_by("seq"))
    assert [e.seq for e in stored] == list(range(1, total + 1))
    assert [e.pk for e in events] == [e.pk for e in stored]
