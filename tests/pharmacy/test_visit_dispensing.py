"""Several dispensing visits at once (`visits_kits_dispense`) write what the one-at-a-time
services (`visit_kits_assign`, `kit_dispense`, `kit_return`) write one visit after another:
the same kits, statuses, ledger rows, dispensings, returns and audit events, in the same order;
they refuse with the same messages and write nothing then."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.db import transaction

from carnet.accounts.permissions import PermissionDenied
from carnet.audit.models import AuditEvent
from carnet.core.clock import utc_now
from carnet.core.errors import CarnetError, ValidationError
from carnet.pharmacy.assignment import NoUsableKit, visit_kits_assign
from carnet.pharmacy.dispensing import kit_dispense, kit_return
from carnet.pharmacy.models import Dispensing, Kit, Return, StockMovement
from carnet.pharmacy.visit_dispensing import VisitDispensing, visits_kits_dispense
from carnet.randomization.models import Allocation
from carnet.subjects.models import Subject
from tests.pharmacy.dispensing_world import PharmacyTrial, pharmacy_trial

pytestmark = pytest.mark.django_db

NOTE = "Unused vial brought back by the day unit"


class _Undo(Exception):
    """Rolls a path back once its content is read, so that the other path starts the same."""


def _content(trial: PharmacyTrial) -> dict[str, list[tuple[Any, ...]]]:
    """What the pharmacy and the audit trail hold, without ids and moments."""
    study = trial.world.study
    return {
        "kits": list(
            Kit.objects.filter(study=study)
            .order_by("number")
            .values_list("number", "status", "subject_id", "event", "occurrence", "site_id")
        ),
        "movements": list(
            StockMovement.objects.filter(study=study)
            .order_by("id")
            .values_list(
                "kind",
                "kit__number",
                "product",
                "quantity",
                "site_id",
                "subject_id",
                "actor",
                "reason",
            )
        ),
        "dispensings": list(
            Dispensing.objects.filter(study=study)
            .order_by("id")
            .values_list(
                "kit__number",
                "subject_id",
                "product",
                "quantity",
                "event",
                "occurrence",
                "dispensed_on",
                "dispensed_to",
                "dispensed_by",
            )
        ),
        "returns": list(
            Return.objects.filter(study=study)
            .order_by("id")
            .values_list(
                "kit__number",
                "subject_id",
                "product",
                "quantity",
                "returned_on",
                "note",
                "recorded_by",
            )
        ),
        "audit": list(
            AuditEvent.objects.filter(chain=study.audit_chain)
            .order_by("seq")
            .values_list(
                "seq",
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


def _run(trial: PharmacyTrial, path: Callable[[], object]) -> tuple[Any, dict[str, Any]]:
    """Run a path, read what it wrote (or the refusal), then undo it."""
    outcome: Any = None
    try:
        with transaction.atomic():
            try:
                outcome = path()
            except CarnetError as refusal:
                outcome = (type(refusal), str(refusal))
            content = _content(trial)
            raise _Undo
    except _Undo:
        pass
    return outcome, content


def _one_at_a_time(trial: PharmacyTrial, subject: Subject, visits: list[VisitDispensing]):
    """The demo's former path: each visit's kit assigned, dispensed, the rest brought back."""

    def path() -> list[list[str]]:
        found = []
        for visit in visits:
            kits = visit_kits_assign(
                actor=trial.pharmacist,
                subject=subject,
                event=visit.event,
                occurrence=visit.occurrence,
                at=visit.at,
            )
            for kit in kits:
                kit_dispense(
                    actor=trial.pharmacist,
                    study=subject.study,
                    site=subject.site,
                    number=kit.number,
                    on=visit.on,
                    dispensed_to=visit.dispensed_to,
                )
                if visit.used is not None and visit.used < kit.quantity:
                    kit_return(
                        actor=trial.pharmacist,
                        study=subject.study,
                        site=subject.site,
                        number=kit.number,
                        on=visit.on,
                        quantity=Decimal(int(kit.quantity) - int(visit.used)),
                        note=visit.return_note,
                    )
            found.append([kit.number for kit in kits])
        return found

    return path


def _at_once(trial: PharmacyTrial, subject: Subject, visits: list[VisitDispensing], actor=None):
    def path() -> list[list[str]]:
        found = visits_kits_dispense(
            actor=actor or trial.pharmacist, subject=subject, visits=visits
        )
        return [[kit.number for kit in kits] for kits in found]

    return path


def _visits(at: datetime, *cycles: tuple[int, int | None]) -> list[VisitDispensing]:
    """The treatment visit (its kit assigned at randomisation), then the cycles given as
    (occurrence, vials used)."""
    first = VisitDispensing(
        event="treatment",
        occurrence=1,
        at=at,
        on=at.date(),
        dispensed_to="Day unit nurse",
        used=1,
        return_note=NOTE,
    )
    return [first] + [
        VisitDispensing(
            event="cycle",
            occurrence=n,
            at=at,
            on=at.date(),
            dispensed_to="Day unit nurse",
            used=used,
            return_note=NOTE,
        )
        for n, used in cycles
    ]


def _trial(tmp_path: Path, per_arm: int = 4) -> tuple[PharmacyTrial, Subject]:
    trial = pharmacy_trial(tmp_path)
    for arm in ("experimental", "placebo"):
        trial.stock(arm, count=per_arm)
    return trial, trial.randomised()


def test_visits_at_once_write_what_the_visits_one_after_another_write(tmp_path: Path) -> None:
    trial, subject = _trial(tmp_path)
    visits = _visits(utc_now(), (1, 1), (2, None), (3, 4))
    before = _content(trial)
    alone, alone_content = _run(trial, _one_at_a_time(trial, subject, visits))
    together, together_content = _run(trial, _at_once(trial, subject, visits))
    assert _content(trial) == before  # each path was undone
    assert together == alone
    assert [len(kits) for kits in together] == [1, 1, 1, 1]
    assert together_content == alone_content
    arm = Allocation.objects.get(subject=subject).arm
    contents = Kit.objects.filter(number__in=[k for (k,) in together]).values_list(
        "content", flat=True
    )
    assert set(contents) == {arm}
    # The randomisation's kit, then each visit: 1 of 4 used (3 back), 1 of 4 used, nothing
    # said (none back), all 4 used.
    kinds = [row[0] for row in together_content["movements"] if row[0] != "received"]
    assert kinds == [
        "assigned",
        "dispensed", "returned",
        "assigned", "dispensed", "returned",
        "assigned", "dispensed",
        "assigned", "dispensed",
    ]  # fmt: skip
    assert [row[3] for row in together_content["returns"]] == [Decimal(3), Decimal(3)]


def test_the_same_visit_twice_is_refused_as_a_second_dispensing(tmp_path: Path) -> None:
    trial, subject = _trial(tmp_path)
    visits = _visits(utc_now(), (1, 1), (1, 1))
    alone, _alone_content = _run(trial, _one_at_a_time(trial, subject, visits))
    before = _content(trial)
    together, together_content = _run(trial, _at_once(trial, subject, visits))
    assert alone[0] is ValidationError
    assert together == alone
    assert "only a kit assigned to a patient's visit is dispensed" in together[1]
    assert together_content == before  # nothing half-written


def test_no_usable_kit_is_refused_with_the_same_message_and_nothing_written(
    tmp_path: Path,
) -> None:
    trial, subject = _trial(tmp_path, per_arm=2)  # one left after the randomisation's
    visits = _visits(utc_now(), (1, 1), (2, 1))
    alone, _alone_content = _run(trial, _one_at_a_time(trial, subject, visits))
    before = _content(trial)
    together, together_content = _run(trial, _at_once(trial, subject, visits))
    assert alone[0] is NoUsableKit
    assert together == alone
    assert together[1].startswith("no usable kit at site 01")
    assert together_content == before


def test_a_subject_not_randomised_is_refused_alike(tmp_path: Path) -> None:
    trial = pharmacy_trial(tmp_path)
    trial.stock("experimental", count=2)
    trial.stock("placebo", count=2)
    subject = trial.include(site="a")
    visits = _visits(utc_now(), (1, 1))[1:]
    alone, _alone_content = _run(trial, _one_at_a_time(trial, subject, visits))
    before = _content(trial)
    together, together_content = _run(trial, _at_once(trial, subject, visits))
    assert together == alone
    assert together[1] == f"{subject.identifier} is not randomised: no kit can be assigned."
    assert together_content == before


def test_a_pharmacist_of_another_site_and_a_blank_recipient_are_refused(tmp_path: Path) -> None:
    trial, subject = _trial(tmp_path)
    visits = _visits(utc_now(), (1, 1))
    before = _content(trial)
    with pytest.raises(PermissionDenied):
        visits_kits_dispense(actor=trial.pharmacist_b, subject=subject, visits=visits)
    nobody = [VisitDispensing(**{**visits[1].__dict__, "dispensed_to": " "})]
    with pytest.raises(ValidationError) as refused:
        visits_kits_dispense(actor=trial.pharmacist, subject=subject, visits=nobody)
    assert str(refused.value) == "dispensed_to: say to whom the kit was handed."
    assert _content(trial) == before


def test_an_event_the_plan_does_not_dispense_at_is_refused_alike(tmp_path: Path) -> None:
    trial, subject = _trial(tmp_path)
    at = utc_now()
    visits = [
        VisitDispensing(
            event="baseline", occurrence=1, at=at, on=at.date(), dispensed_to="Day unit nurse"
        )
    ]
    alone, _alone_content = _run(trial, _one_at_a_time(trial, subject, visits))
    together, _together_content = _run(trial, _at_once(trial, subject, visits))
    assert alone[0] is ValidationError
    assert together == alone
