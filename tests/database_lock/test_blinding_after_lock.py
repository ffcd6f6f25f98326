"""The blinding walk (tests/accounts/test_blinding.py: every page and API path, the conflicts and
refusals) once the database is locked: before the study's unblinding no blinded person reads an
arm-revealing value anywhere, the lock's pages and archive included; after it, as decided, every
person of the study does."""

from __future__ import annotations

from typing import Any

import pytest

from carnet.accounts.roles import Role
from carnet.database_lock.selectors import checklist_state
from carnet.database_lock.services import (
    checklist_waive,
    database_lock_sign,
    database_lock_unblind,
)
from carnet.studies.models import Study
from tests.accounts.personas import person
from tests.accounts.test_blinding import KIT, _answers
from tests.accounts.test_blinding import blinded_world as blinded_world

pytestmark = pytest.mark.django_db

PASSWORD = "a long test password"  # tests.accounts.factories' password


def _lock(study: Study) -> Any:
    """Lock MINI: every open item waived, then the four signatures in turn; return the sponsor."""
    signers = [
        person(name, study=study, role=role)
        for name, role in (
            ("dmitri", Role.DATA_MANAGER),
            ("stan", Role.STATISTICIAN),
            ("corinne", Role.COORDINATING_INVESTIGATOR),
            ("sofia", Role.SPONSOR),
        )
    ]
    for state in checklist_state(study):
        if state.blocking:
            checklist_waive(actor=signers[0], study=study, item=state.key, reason="the walk")
    for signer in signers:
        lock = database_lock_sign(
            actor=signer, study=study, password=PASSWORD, meaning="I authorise this database lock."
        )
    assert lock.status == "locked"
    return signers[-1]


def test_a_locked_study_stays_blind_until_unblinded_then_its_people_read_the_arms(
    blinded_world: dict[str, Any],
) -> None:
    study = blinded_world["world"].study
    sponsor = _lock(study)
    for persona in ("inspector", "investigator"):
        answers = _answers(blinded_world[persona], study, blinded_world["version"])
        assert len(answers) > 40
        assert [where for where, body in answers.items() if KIT in body] == [], persona
    database_lock_unblind(
        actor=sponsor,
        study=study,
        reason="final analysis",
        password=PASSWORD,
        meaning="I authorise the unblinding of this study.",
    )
    study = Study.objects.get(pk=study.pk)
    for persona in ("investigator", "monitor"):
        answers = _answers(blinded_world[persona], study, blinded_world["version"])
        assert [where for where, body in answers.items() if KIT in body], persona
