"""Data whose audit trail was emptied, or restarted after them, fail verification."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.db import connection

from carnet.accounts.models import User
from carnet.audit.coverage import audited_data
from carnet.audit.models import SYSTEM_CHAIN
from carnet.audit.services import SystemActor, audit_record
from carnet.audit.verification import audit_verify
from carnet.capture.models import FormInstance, ItemValue
from carnet.capture.services import form_save
from carnet.core.clock import utc_now
from carnet.studies.models import StudyVersion
from carnet.subjects.models import Subject
from tests.capture.conftest import Capture, capture  # noqa: F401 (the fixture)
from tests.conftest import database_vendor

pytestmark = pytest.mark.django_db

CHAIN = "study:MINI"


def empty_the_trail() -> None:
    """Empty both audit tables as their owner could (the triggers set aside on PostgreSQL)."""
    with connection.cursor() as cursor:
        if database_vendor() == "postgresql":
            for table in ("audit_auditevent", "audit_chainhead"):
                cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
            cursor.execute("TRUNCATE audit_auditevent, audit_chainhead")
            for table in ("audit_auditevent", "audit_chainhead"):
                cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")
        else:
            cursor.execute("DELETE FROM audit_auditevent")
            cursor.execute("DELETE FROM audit_chainhead")


@pytest.fixture
def entered(capture: Capture) -> Capture:  # noqa: F811 (the imported fixture)
    """The capture world once the baseline vitals of its subject are entered."""
    form_save(
        actor=capture.entry,
        subject=capture.subject,
        event="baseline",
        form="vitals",
        base_version=0,
        values={"weight": "72", "height": "175"},
    )
    return capture


def problems() -> dict[str, str]:
    report = audit_verify()
    return {chain.chain: chain.problem for chain in report.chains if chain.problem is not None}


def test_the_data_of_a_full_trail_are_accounted_for(entered: Capture) -> None:
    assert audit_verify().intact
    assert audited_data()[CHAIN]  # the census sees the study's data, so the check can fail


def test_an_emptied_trail_fails_verification_for_every_chain_with_data(entered: Capture) -> None:
    empty_the_trail()

    found = problems()
    listing = (
        f"study versions: {StudyVersion.objects.count()}, "
        f"subjects: {Subject.objects.count()}, "
        f"form instances: {FormInstance.objects.count()}, "
        f"item values: {ItemValue.objects.count()}"
    )
    assert found[CHAIN] == (
        f"The chain has no events, yet the database holds data it must record ({listing}): its "
        "events were removed (the tables emptied, or a restore without them)."
    )
    assert found[SYSTEM_CHAIN] == (
        f"The chain has no events, yet the database holds data it must record (accounts: "
        f"{User.objects.count()}): its events were removed (the tables emptied, or a restore "
        "without them)."
    )
    assert not audit_verify(chain=CHAIN).intact


def test_a_trail_restarted_after_the_data_fails_verification(entered: Capture) -> None:
    oldest = Subject.objects.get().created_at
    empty_the_trail()
    with time_machine.travel(utc_now() + timedelta(days=1), tick=False):
        first = audit_record(actor=SystemActor(label="pytest"), action="study.note", chain=CHAIN)
        audit_record(actor=SystemActor(label="pytest"), action="setting.changed")

    found = problems()
    assert found[CHAIN] == (
        f"The chain starts on {first.occurred_at:%Y-%m-%d %H:%M:%S} UTC, after data it must "
        f"record (subjects since {oldest:%Y-%m-%d %H:%M:%S} UTC): the events before were "
        "removed and the chain started again."
    )
    # Accounts carry no creation time the chain could be compared with: only emptiness counts.
    assert SYSTEM_CHAIN not in found


def test_a_study_without_data_needs_no_chain(system_actor: SystemActor) -> None:
    assert CHAIN not in audited_data()
    assert audit_verify().chains == []
