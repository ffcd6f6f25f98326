"""Storing several samples at once (`samples_store`) is storing them one after another
(`sample_store`): the same positions, statuses, box counts, movements and audit events, the same
refusals with the same messages, and nothing written when one sample of the batch is refused."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from carnet.accounts.permissions import PermissionDenied
from carnet.audit.models import AuditEvent
from carnet.biobank.models import (
    Box,
    FreezerStatus,
    Sample,
    SamplePosition,
    SampleStatus,
    StorageMovement,
)
from carnet.biobank.storage import (
    Placement,
    box_create,
    freezer_create,
    rack_create,
    sample_store,
    samples_store,
)
from carnet.core.errors import ValidationError
from tests.biobank.storage_world import Storage, storage_world

pytestmark = pytest.mark.django_db


@pytest.fixture
def storage() -> Storage:
    return storage_world()


class _Undone(Exception):
    """Raised to roll back what a block wrote, once its content is read."""


def _content(storage: Storage, since: int) -> dict[str, Any]:
    """Return what storing wrote, without ids or moments: positions, statuses, box counts,
    movements and the audit events after ``since``."""
    name = dict(Sample.objects.values_list("pk", "identifier"))
    return {
        "positions": sorted(
            SamplePosition.objects.values_list(
                "sample__identifier", "box__name", "row", "column", "stored_by", "site_id"
            )
        ),
        "statuses": sorted(Sample.objects.values_list("identifier", "status")),
        "boxes": sorted(Box.objects.values_list("name", "used")),
        "movements": [
            (name[sample_id], kind, from_place, to_place, reason, moved_by)
            for sample_id, kind, from_place, to_place, reason, moved_by in (
                StorageMovement.objects.order_by("pk").values_list(
                    "sample_id", "kind", "from_place", "to_place", "reason", "moved_by"
                )
            )
        ],
        "events": [
            (chain, seq, actor_id, actor_label, action, target_type, name[int(target_id)], old, new)
            for chain, seq, actor_id, actor_label, action, target_type, target_id, old, new in (
                AuditEvent.objects.filter(pk__gt=since)
                .order_by("pk")
                .values_list(
                    "chain",
                    "seq",
                    "actor_id",
                    "actor_label",
                    "action",
                    "target_type",
                    "target_id",
                    "old",
                    "new",
                )
            )
        ],
    }


def _last_event() -> int:
    return AuditEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


def _one_at_a_time(storage: Storage, placements: list[Placement]) -> dict[str, Any]:
    """Return what `sample_store` writes for each placement in turn, then undo it."""
    since = _last_event()
    found: dict[str, Any] = {}
    try:
        with transaction.atomic():
            for placement in placements:
                sample_store(
                    actor=storage.technician,
                    sample=placement.sample,
                    box=placement.box,
                    position=placement.position,
                )
            found = _content(storage, since)
            raise _Undone
    except _Undone:
        pass
    return found


def _small_box(storage: Storage, rows: int = 1, columns: int = 2) -> Box:
    return box_create(
        actor=storage.technician,
        study=storage.study,
        rack=storage.box.rack,
        name="SMALL",
        rows=rows,
        columns=columns,
    )


def test_a_batch_writes_what_one_at_a_time_writes(storage: Storage) -> None:
    small = _small_box(storage)
    samples = [storage.plasma] + [storage.sample(f"S-{n}") for n in range(5)]
    # Two boxes, positions given and not, the small box filled up.
    placements = [
        Placement(sample=samples[0], box=small),
        Placement(sample=samples[1], box=storage.box, position="c4"),
        Placement(sample=samples[2], box=small),
        Placement(sample=samples[3], box=storage.box),
        Placement(sample=samples[4], box=storage.box, position="A2"),
        Placement(sample=samples[5], box=storage.box),
    ]
    expected = _one_at_a_time(storage, placements)
    assert not SamplePosition.objects.exists()  # undone
    since = _last_event()
    placed = samples_store(actor=storage.technician, placements=placements)
    assert _content(storage, since) == expected
    assert [(p.box.name, p.row, p.column) for p in placed] == [
        ("SMALL", 1, 1),
        ("BOX-01", 3, 4),
        ("SMALL", 1, 2),
        ("BOX-01", 1, 1),
        ("BOX-01", 1, 2),
        ("BOX-01", 1, 3),
    ]
    assert all(p.pk for p in placed)
    assert expected["boxes"] == [("BOX-01", 4), ("SMALL", 2)]
    assert [event[4] for event in expected["events"]] == ["biobank.sample_store"] * 6
    assert expected["movements"][1][3] == "F-80-1 / R1 / BOX-01 / C4"


def test_a_batch_after_samples_already_stored(storage: Storage) -> None:
    sample_store(actor=storage.technician, sample=storage.plasma, box=storage.box)
    placements = [Placement(sample=storage.sample(f"S-{n}"), box=storage.box) for n in range(3)]
    expected = _one_at_a_time(storage, placements)
    since = _last_event()
    samples_store(actor=storage.technician, placements=placements)
    assert _content(storage, since) == expected
    assert [p[3] for p in expected["positions"]] == [1, 2, 3, 4]


def test_a_batch_costs_a_handful_of_statements(storage: Storage) -> None:
    placements = [Placement(sample=storage.sample(f"S-{n}"), box=storage.box) for n in range(10)]
    with CaptureQueriesContext(connection) as queries:
        samples_store(actor=storage.technician, placements=placements)
    # One at a time, each sample costs about fifteen.
    assert len(queries.captured_queries) <= 20


def test_an_empty_batch_writes_nothing(storage: Storage) -> None:
    assert samples_store(actor=storage.technician, placements=[]) == []
    assert not StorageMovement.objects.exists()


def _refusal(call: Callable[[], object]) -> tuple[type[Exception], str]:
    try:
        with transaction.atomic():
            call()
    except (ValidationError, PermissionDenied) as refused:
        return type(refused), str(refused)
    raise AssertionError("not refused")


def _same_refusal(
    storage: Storage, placements: list[Placement], actor: Any = None
) -> tuple[type[Exception], str]:
    """Assert the batch is refused as storing one after another is, and writes nothing."""
    actor = actor or storage.technician

    def one_at_a_time() -> None:
        for placement in placements:
            sample_store(
                actor=actor, sample=placement.sample, box=placement.box, position=placement.position
            )

    expected = _refusal(one_at_a_time)
    since = _last_event()
    before = _content(storage, since)
    refused = _refusal(lambda: samples_store(actor=actor, placements=placements))
    assert refused == expected
    assert _content(storage, since) == before  # all or nothing
    return refused


def test_a_full_box_is_refused_and_nothing_is_stored(storage: Storage) -> None:
    small = _small_box(storage, rows=1, columns=1)
    placements = [
        Placement(sample=storage.sample("S-1"), box=storage.box),
        Placement(sample=storage.sample("S-2"), box=small),
        Placement(sample=storage.plasma, box=small),
    ]
    assert _same_refusal(storage, placements) == (
        ValidationError,
        "Box SMALL is full (1 of 1 positions used): choose another box.",
    )


def test_a_position_taken_is_refused(storage: Storage) -> None:
    sample_store(actor=storage.technician, sample=storage.plasma, box=storage.box, position="B2")
    # Taken before the batch, and by an earlier sample of the batch.
    for taken_by_batch in (False, True):
        first = storage.sample(f"S-1-{taken_by_batch}")
        second = storage.sample(f"S-2-{taken_by_batch}")
        placements = [
            Placement(sample=first, box=storage.box, position="A1" if taken_by_batch else "A3"),
            Placement(sample=second, box=storage.box, position="A1" if taken_by_batch else "B2"),
        ]
        position = "A1" if taken_by_batch else "B2"
        assert _same_refusal(storage, placements) == (
            ValidationError,
            f"position: {position} of box BOX-01 already holds a sample.",
        )


def test_a_position_outside_the_box_is_refused(storage: Storage) -> None:
    placements = [
        Placement(sample=storage.sample("S-1"), box=storage.box),
        Placement(sample=storage.plasma, box=storage.box, position="J1"),
    ]
    assert _same_refusal(storage, placements) == (
        ValidationError,
        "position: J1 is outside box BOX-01 (9 rows × 9 columns).",
    )


def test_a_sample_not_storable_is_refused(storage: Storage) -> None:
    gone = storage.sample("S-GONE")
    Sample.objects.filter(pk=gone.pk).update(status=SampleStatus.DESTROYED)
    placements = [
        Placement(sample=storage.plasma, box=storage.box),
        Placement(sample=gone, box=storage.box),
    ]
    assert _same_refusal(storage, placements) == (
        ValidationError,
        "Sample S-GONE is destroyed: it cannot be stored.",
    )


def test_a_sample_stored_twice_is_refused(storage: Storage) -> None:
    other = storage.sample("S-1")
    sample_store(actor=storage.technician, sample=other, box=storage.box)
    for placements in (
        [Placement(sample=storage.plasma, box=storage.box)] * 2,
        [
            Placement(sample=storage.plasma, box=storage.box),
            Placement(sample=other, box=storage.box),
        ],
    ):
        refused = _same_refusal(storage, placements)
        assert refused[0] is ValidationError
        assert refused[1].endswith("is already stored: move it instead.")


def _box_at_ipc(storage: Storage) -> Box:
    freezer = freezer_create(
        actor=storage.technician_b,
        study=storage.study,
        centre=storage.world.site_b.centre,
        name="F-IPC",
        temperature=-80,
    )
    rack = rack_create(actor=storage.technician_b, study=storage.study, freezer=freezer, name="R")
    return box_create(
        actor=storage.technician_b, study=storage.study, rack=rack, name="B", rows=10, columns=10
    )


def test_a_freezer_of_another_centre_is_refused(storage: Storage) -> None:
    ipc = _box_at_ipc(storage)
    placements = [
        Placement(sample=storage.plasma, box=storage.box),
        Placement(sample=storage.sample("S-1"), box=ipc),
    ]
    assert _same_refusal(storage, placements) == (
        PermissionDenied,
        "You may not use freezer F-IPC for this study.",
    )


def test_a_freezer_out_of_service_is_refused(storage: Storage) -> None:
    storage.freezer.status = FreezerStatus.FAILED
    storage.freezer.save(update_fields=["status"])
    assert _same_refusal(storage, [Placement(sample=storage.plasma, box=storage.box)]) == (
        ValidationError,
        "Freezer F-80-1 is out of service: choose a box of another freezer.",
    )


def test_samples_the_actor_may_not_handle_are_refused(storage: Storage) -> None:
    placements = [
        Placement(sample=storage.plasma_b, box=_box_at_ipc(storage)),
        Placement(sample=storage.plasma, box=storage.box),
    ]
    # A technician of site B: the second sample is of site A.
    refused = _same_refusal(storage, placements, actor=storage.technician_b)
    assert refused[0] is PermissionDenied
    assert refused[1].startswith("You may not handle samples here")
    for actor in (storage.investigator, storage.outsider):
        refused = _same_refusal(storage, placements[1:], actor=actor)
        assert refused[0] is PermissionDenied
