"""Issue 19, item 5, the parts a lock's signers and readers notice: the coordinating
investigator's step is the coordinating investigator's (a study role, one person at a time),
not any investigator's; the study is unblinded only after the lock, under a signature, audited,
and from then on its people read the arms (an unlock does not restore the blind); the archived
snapshot is served, checked against its hash, to those who may read arms."""

from __future__ import annotations

import pytest

from carnet.accounts.blinding import blinding_of
from carnet.accounts.permissions import PermissionDenied
from carnet.accounts.roles import Role
from carnet.accounts.services import role_grant, role_revoke
from carnet.audit.models import AuditEvent
from carnet.audit.verification import audit_verify
from carnet.core.clock import utc_today
from carnet.core.errors import ValidationError
from carnet.database_lock.services import (
    archive_folder,
    archive_path,
    database_lock_unblind,
    database_lock_unlock,
)
from carnet.randomization.models import StudyUnblinding
from carnet.randomization.study_unblinding import STUDY_UNBLINDING_MEANING
from carnet.studies.models import Study
from tests.accounts.factories import ADMIN
from tests.accounts.personas import person
from tests.database_lock.conftest import LOCK_MEANING, Locking
from tests.database_lock.test_database_lock import locked, sign_casebook
from tests.oversight.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def unblind(locking: Locking, actor=None, **kwargs):  # type: ignore[no-untyped-def]
    return database_lock_unblind(
        actor=actor or locking.sponsor,
        study=locking.study,
        reason=kwargs.pop("reason", "final analysis"),
        password=kwargs.pop("password", PASSWORD),
        meaning=kwargs.pop("meaning", STUDY_UNBLINDING_MEANING),
    )


def blinded_people(locking: Locking) -> list:  # type: ignore[type-arg]
    o = locking.o
    return [
        o.entry,
        o.investigator,
        o.investigator_b,
        o.monitor,
        o.inspector,
        o.statistician,
        locking.manager,
        locking.sponsor,
    ]


def fresh(locking: Locking) -> Study:
    return Study.objects.get(pk=locking.study.pk)


# --- the coordinating investigator ----------------------------------------------------------


def test_an_investigator_who_does_not_coordinate_the_study_cannot_sign_its_step(
    locking: Locking,
) -> None:
    locking.o.save(values={"weight": 70})
    sign_casebook(locking)
    locking.waive_sdv()
    locking.sign(locking.manager)
    locking.sign(locking.statistician)
    with pytest.raises(PermissionDenied, match="the coordinating investigator's"):
        locking.sign(locking.o.investigator_b)  # an investigator of site B, not coordinating
    lock = locking.sign(locking.investigator)  # site A's investigator, the coordinator
    assert [s.step for s in lock.signatures.all()][-1] == "coordinating_investigator"


def test_a_coordinating_investigator_restricted_to_a_site_does_not_sign(
    locking: Locking,
) -> None:
    o = locking.o
    role_grant(
        actor=ADMIN,
        user=o.investigator_b,
        study=o.study,
        site=o.capture.world.site_b,
        role=Role.COORDINATING_INVESTIGATOR,
        starts_on=utc_today(),
    )
    o.save(values={"weight": 70})
    sign_casebook(locking)
    locking.waive_sdv()
    locking.sign(locking.manager)
    locking.sign(locking.statistician)
    with pytest.raises(PermissionDenied, match="the coordinating investigator's"):
        locking.sign(o.investigator_b)
    # Handed over: the designation ends for irene, who can no longer sign it.
    role_revoke(
        actor=ADMIN,
        user=o.investigator,
        study=o.study,
        site=None,
        role=Role.COORDINATING_INVESTIGATOR,
    )
    with pytest.raises(PermissionDenied, match="the coordinating investigator's"):
        locking.sign(o.investigator)


# --- the study's unblinding -----------------------------------------------------------------


def test_the_study_is_not_unblinded_before_its_database_is_locked(locking: Locking) -> None:
    with pytest.raises(ValidationError, match="MINI may be unblinded only once its database is"):
        unblind(locking)
    locking.o.save(values={"weight": 70})
    sign_casebook(locking)
    locking.waive_sdv()
    for signer in locking.signers()[:3]:
        locking.sign(signer)  # signing under way: not locked yet
    with pytest.raises(ValidationError, match="only once its database is locked"):
        unblind(locking)
    assert fresh(locking).unblinded_at is None
    assert not StudyUnblinding.objects.exists()
    for user in blinded_people(locking):
        assert not blinding_of(user, study=fresh(locking)).unblinded, user.username


def test_only_the_sponsor_or_a_data_manager_unblinds_with_a_reason_and_a_signature(
    locking: Locking,
) -> None:
    locked(locking)
    for user in (locking.statistician, locking.investigator, locking.o.monitor, locking.o.entry):
        with pytest.raises(PermissionDenied, match="Only the sponsor or a data manager"):
            unblind(locking, user)
    with pytest.raises(ValidationError, match="give a reason"):
        unblind(locking, reason="  ")
    with pytest.raises(ValidationError, match="password is wrong"):
        unblind(locking, password="wrong")
    assert fresh(locking).unblinded_at is None


def test_after_the_lock_the_signed_unblinding_shows_the_arms_to_the_study_s_people(
    locking: Locking,
) -> None:
    locked(locking)
    for user in blinded_people(locking):
        assert not blinding_of(user, study=fresh(locking)).unblinded, user.username
        assert blinding_of(user, study=fresh(locking)).arm("placebo") == "(blinded)"
    unblinding = unblind(locking, reason="database locked; final analysis")
    assert unblinding.basis == "DBLOCK-1"
    assert unblinding.signature.meaning == STUDY_UNBLINDING_MEANING
    study = fresh(locking)
    assert study.unblinded_at == unblinding.at
    for user in blinded_people(locking):
        assert blinding_of(user, study=study).arm("placebo") == "placebo", user.username
    # Nobody outside the study is unblinded by it.
    outsider = person("oscar")
    assert not blinding_of(outsider, study=study).unblinded
    event = AuditEvent.objects.get(action="study.unblinded")
    assert event.reason == "database locked; final analysis"
    assert event.new["basis"] == "DBLOCK-1"
    assert event.actor_label.startswith("sofia")
    with pytest.raises(ValidationError, match="MINI is already unblinded"):
        unblind(locking, locking.manager)
    assert audit_verify(chain="study:MINI").intact


def test_an_unlock_after_the_unblinding_leaves_the_study_unblinded(locking: Locking) -> None:
    locked(locking)
    unblind(locking, locking.manager)
    database_lock_unlock(
        actor=locking.manager,
        study=locking.study,
        reason="a late serious event",
        password=PASSWORD,
        meaning=LOCK_MEANING,
    )
    study = fresh(locking)
    assert study.unblinded_at is not None
    assert blinding_of(locking.o.entry, study=study).unblinded
    event = AuditEvent.objects.get(action="database_lock.unlocked")
    assert event.new["study_unblinded"] is True


# --- the archived snapshot ------------------------------------------------------------------


def test_the_archive_is_served_only_as_recorded_at_lock(locking: Locking) -> None:
    lock = locked(locking)
    assert archive_path(lock) == archive_folder() / lock.archive_name
    with (archive_folder() / lock.archive_name).open("ab") as archive:
        archive.write(b"tampered")
    with pytest.raises(ValidationError, match="differs from the SHA-256 recorded at lock"):
        archive_path(lock)
