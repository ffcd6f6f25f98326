"""Recording several processing steps at once (`sample_process_many`) is recording them one
after another (`sample_process`): the same steps, SPREC code, deviations, quality and audit
events (each with the code and deviations as they stood after its step), the same refusals with
the same messages, and nothing written when one step of the batch is refused."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from carnet.accounts.permissions import PermissionDenied
from carnet.audit.models import AuditEvent
from carnet.biobank.collection import Step, sample_collect, sample_process, sample_process_many
from carnet.biobank.models import ProcessingStep, Sample
from carnet.core.errors import ValidationError
from tests.biobank.conftest import COLLECTED, Biobank, minutes

pytestmark = pytest.mark.django_db


class _Undone(Exception):
    """Raised to roll back what a block wrote, once its content is read."""


def _fresh(sample: Sample) -> Sample:
    return Sample.objects.select_related("subject__site", "study", "collection").get(pk=sample.pk)


def _last_event() -> int:
    return AuditEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


def _content(sample: Sample, since: int) -> dict[str, Any]:
    """Return what processing wrote, without ids or moments."""
    stored = _fresh(sample)
    return {
        "steps": list(
            ProcessingStep.objects.filter(sample=sample)
            .order_by("pk")
            .values_list(
                "kind",
                "started_at",
                "ended_at",
                "temperature",
                "force_g",
                "braking",
                "held",
                "fixative",
                "recorded_by",
            )
        ),
        "sample": (stored.sprec, stored.quality, stored.status),
        "deviations": stored.collection.deviations,
        "events": list(
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
                "reason",
            )
        ),
    }


def _one_call(step: Step) -> dict[str, Any]:
    return {
        "kind": step.kind,
        "started_at": step.started_at,
        "ended_at": step.ended_at,
        "temperature": step.temperature,
        "force_g": step.force_g,
        "braking": step.braking,
        "held": step.held,
        "fixative": step.fixative,
        "reason": step.reason,
    }


def _one_at_a_time(actor: Any, sample: Sample, steps: list[Step]) -> dict[str, Any]:
    """Return what `sample_process` writes for each step in turn, then undo it."""
    since = _last_event()
    found: dict[str, Any] = {}
    try:
        with transaction.atomic():
            fresh = _fresh(sample)
            for step in steps:
                sample_process(actor=actor, sample=fresh, **_one_call(step))
            found = _content(sample, since)
            raise _Undone
    except _Undone:
        pass
    return found


def _same_writes(biobank: Biobank, sample: Sample, steps: list[Step]) -> dict[str, Any]:
    expected = _one_at_a_time(biobank.nurse, sample, steps)
    since = _last_event()
    recorded = sample_process_many(actor=biobank.nurse, sample=_fresh(sample), steps=steps)
    assert [step.kind for step in recorded] == [step.kind for step in steps]
    assert all(step.pk for step in recorded)
    assert _content(sample, since) == expected
    return expected


def _plasma_steps(first_at: float = 45, held: str = "cold") -> list[Step]:
    return [
        Step(
            kind="centrifugation",
            started_at=minutes(first_at),
            ended_at=minutes(first_at + 10),
            temperature=Decimal(4),
            force_g=1600,
            held=held,
        ),
        Step(
            kind="second_centrifugation",
            started_at=minutes(first_at + 15),
            ended_at=minutes(first_at + 25),
            temperature=Decimal(4),
            force_g=1600,
        ),
        Step(
            kind="freezing",
            started_at=minutes(first_at + 55),
            temperature=Decimal(-80),
            held=held,
        ),
    ]


def test_a_plasmas_steps_at_once_write_what_one_at_a_time_writes(biobank: Biobank) -> None:
    sample = biobank.plasma(held="cold")
    expected = _same_writes(biobank, sample, _plasma_steps())
    assert expected["sample"][0] == "PL2-PED-B-C-C-B-A"
    # Each event carries the code as it stood after its step.
    assert [event[8]["sprec"] for event in expected["events"]] == [
        "PL1-PED-B-C-N-X-X",  # spun once
        "PL2-PED-B-C-C-X-X",
        "PL2-PED-B-C-C-B-A",
    ]


def test_steps_with_deviations_at_once(biobank: Biobank) -> None:
    sample = biobank.plasma(volume=Decimal("8.5"))
    steps = _plasma_steps(first_at=150, held="room")
    expected = _same_writes(biobank, sample, [steps[0], steps[2]])
    codes = [d["code"] for d in expected["deviations"]]
    assert "centrifuge_delay" in codes
    assert "second_centrifugation" in codes
    assert expected["sample"][1].startswith("deviation")


def test_a_tumours_steps_at_once(biobank: Biobank) -> None:
    sample = sample_collect(
        actor=biobank.nurse,
        subject=biobank.subject,
        event="baseline",
        code="tumour",
        collected_at=COLLECTED,
        collection_method="surgery",
        warm_ischaemia_minutes=8,
    )
    steps = [
        Step(
            kind="fixation",
            started_at=minutes(90),
            ended_at=minutes(90 + 210),
            fixative="neutral_buffered_formalin",
        ),
        Step(kind="freezing", started_at=minutes(400), temperature=Decimal(20)),
    ]
    expected = _same_writes(biobank, sample, steps)
    assert [d["code"] for d in expected["deviations"]][:2] == ["cold_ischaemia", "fixation_short"]


def test_corrections_at_once(biobank: Biobank) -> None:
    sample = biobank.plasma(held="cold")
    sample_process(
        actor=biobank.nurse,
        sample=sample,
        kind="freezing",
        started_at=minutes(100),
        temperature=Decimal(-80),
    )
    steps = _plasma_steps()
    corrected = Step(
        kind="freezing", started_at=minutes(90), temperature=Decimal(-80), reason="typing error"
    )
    # Given in local time, with a temperature finer than stored: corrected again after, its
    # old values are the stored ones (UTC, one decimal), as one at a time reads them back.
    again = Step(
        kind="freezing",
        started_at=minutes(95).astimezone(ZoneInfo("Europe/Paris")),
        temperature=Decimal("-70.04"),
        reason="read again",
    )
    third = Step(
        kind="freezing", started_at=minutes(96), temperature=Decimal(-80), reason="third look"
    )
    expected = _same_writes(biobank, sample, [steps[0], corrected, steps[1], again, third])
    reasons = [event[9] for event in expected["events"]]
    assert reasons == ["", "typing error", "", "read again", "third look"]
    assert expected["events"][3][7]["started_at"].startswith("2026-01-05T09:30")
    assert expected["events"][4][7]["temperature"] == "-70.0"
    assert expected["events"][4][7]["started_at"] == "2026-01-05T09:35:00+00:00"
    assert len(expected["steps"]) == 3


def test_a_batch_costs_a_handful_of_statements(biobank: Biobank) -> None:
    sample = _fresh(biobank.plasma(held="cold"))
    with CaptureQueriesContext(connection) as queries:
        sample_process_many(actor=biobank.nurse, sample=sample, steps=_plasma_steps())
    # One at a time, each step costs about nine.
    assert len(queries.captured_queries) <= 15


def test_an_empty_batch_writes_nothing(biobank: Biobank) -> None:
    sample = biobank.plasma()
    assert sample_process_many(actor=biobank.nurse, sample=sample, steps=[]) == []
    assert not ProcessingStep.objects.exists()


def _refusal(call: Callable[[], object]) -> tuple[type[Exception], str]:
    try:
        with transaction.atomic():
            call()
    except (ValidationError, PermissionDenied) as refused:
        return type(refused), str(refused)
    raise AssertionError("not refused")


def _same_refusal(
    biobank: Biobank, sample: Sample, steps: list[Step], actor: Any = None
) -> tuple[type[Exception], str]:
    actor = actor or biobank.nurse

    def one_at_a_time() -> None:
        fresh = _fresh(sample)
        for step in steps:
            sample_process(actor=actor, sample=fresh, **_one_call(step))

    expected = _refusal(one_at_a_time)
    since = _last_event()
    before = _content(sample, since)
    refused = _refusal(lambda: sample_process_many(actor=actor, sample=_fresh(sample), steps=steps))
    assert refused == expected
    assert _content(sample, since) == before  # all or nothing
    return refused


def test_refusals_are_the_same_and_write_nothing(biobank: Biobank) -> None:
    sample = biobank.plasma()
    first = _plasma_steps()[0]
    cases = [
        (Step(kind="fixation", started_at=minutes(10)), "kind: a fluid is not fixed."),
        (
            Step(kind="freezing", started_at=minutes(-10), temperature=Decimal(-80)),
            "started_at: a step cannot start before the collection.",
        ),
        (Step(kind="boiling", started_at=minutes(10)), "kind: choose one of"),
        (
            Step(kind="second_centrifugation", started_at=minutes(60)),
            "A centrifugation needs its end time and its force (g).",
        ),
        (
            Step(kind="centrifugation", started_at=minutes(60), ended_at=minutes(50)),
            "ended_at: the step cannot end before it starts.",
        ),
        # The batch's own first step is already recorded when the second one comes.
        (
            Step(kind="centrifugation", started_at=minutes(50), ended_at=minutes(60), force_g=1),
            "reason: the centrifugation is already recorded; give a reason to correct it.",
        ),
    ]
    for bad, message in cases:
        refused = _same_refusal(biobank, sample, [first, bad])
        assert refused[0] is ValidationError
        assert refused[1].startswith(message)


def test_people_who_may_not_record_are_refused(biobank: Biobank) -> None:
    sample = biobank.plasma()
    for actor in (biobank.nurse_b, biobank.monitor, biobank.outsider):
        refused = _same_refusal(biobank, sample, _plasma_steps(), actor=actor)
        assert refused[0] is PermissionDenied
