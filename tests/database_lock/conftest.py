"""MINI in production with a subject at site A (oversight's world) and the people of a
database lock: a data manager (no second factor, so that they sign twice in a test), the
blinded statistician, the coordinating investigator (site A's investigator, designated
coordinating investigator of the study) and the sponsor."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest

from carnet.accounts.models import User
from carnet.accounts.roles import Role
from carnet.accounts.services import role_grant
from carnet.accounts.signatures import DEFAULT_MEANINGS
from carnet.core.clock import utc_today
from carnet.database_lock.models import DatabaseLock
from carnet.database_lock.selectors import checklist_state
from carnet.database_lock.services import checklist_waive, database_lock_sign
from tests.accounts.factories import ADMIN
from tests.accounts.personas import person
from tests.capture.conftest import capture as capture
from tests.oversight.conftest import PASSWORD, Oversight
from tests.oversight.conftest import oversight as oversight

LOCK_MEANING = DEFAULT_MEANINGS[3]  # "I authorise this database lock."


@dataclass
class Locking:
    o: Oversight
    manager: User
    statistician: User
    investigator: User
    sponsor: User

    @property
    def study(self):  # type: ignore[no-untyped-def]
        return self.o.study

    def signers(self) -> list[User]:
        return [self.manager, self.statistician, self.investigator, self.sponsor]

    def waive_sdv(self) -> None:
        """Waive the source data verification still to do, where the monitoring app counts it
        (its plan verifies every item by default): these tests are about the other items."""
        if any(s.key == "sdv_outstanding" and s.blocking for s in checklist_state(self.study)):
            checklist_waive(
                actor=self.manager, study=self.study, item="sdv_outstanding", reason="tests"
            )

    def sign(self, actor: User, **kwargs) -> DatabaseLock:  # type: ignore[no-untyped-def]
        return database_lock_sign(
            actor=actor,
            study=self.study,
            password=kwargs.pop("password", PASSWORD),
            meaning=kwargs.pop("meaning", LOCK_MEANING),
        )


@pytest.fixture
def locking(oversight: Oversight) -> Locking:
    o = oversight
    role_grant(
        actor=ADMIN,
        user=o.investigator,
        study=o.study,
        site=None,
        role=Role.COORDINATING_INVESTIGATOR,
        starts_on=utc_today() - timedelta(days=60),
    )
    return Locking(
        o=o,
        manager=person("dmitri", study=o.study, role=Role.DATA_MANAGER),
        statistician=o.statistician,
        investigator=o.investigator,
        sponsor=person("sofia", study=o.study, role=Role.SPONSOR),
    )
