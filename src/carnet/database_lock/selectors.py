"""Reads of the database lock: the checklist as it stands (counts and waivers), a study's
locks and their signatures, and who may see them."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import QuerySet
from django.utils.translation import gettext as _

from carnet.accounts.models import User
from carnet.accounts.permissions import (
    PermissionDenied,
    is_unblinded,
    memberships_in_force,
    site_scope,
)
from carnet.accounts.roles import Action, Role
from carnet.database_lock.checklist import CHECKLIST
from carnet.database_lock.models import (
    STEPS,
    ChecklistWaiver,
    DatabaseLock,
    LockSignature,
    LockStatus,
    Step,
)
from carnet.db.prepared import Prepared
from carnet.studies.models import Study

# The roles that sign each step: a membership in force for the whole study. The coordinating
# investigator's step is the coordinating investigator's (a role of the delegation log, one
# person at a time), not any investigator's.
STEP_ROLES: dict[str, frozenset[str]] = {
    Step.DATA_MANAGER: frozenset({Role.DATA_MANAGER}),
    Step.STATISTICIAN: frozenset({Role.STATISTICIAN, Role.UNBLINDED_STATISTICIAN}),
    Step.COORDINATING_INVESTIGATOR: frozenset({Role.COORDINATING_INVESTIGATOR}),
    Step.SPONSOR: frozenset({Role.SPONSOR}),
}
SIGNER_ROLES = frozenset().union(*STEP_ROLES.values())


@dataclass(frozen=True)
class ItemState:
    """One item of the checklist as it stands: its count and the waiver that covers it."""

    key: str
    label: str
    count: int
    waiver: ChecklistWaiver | None

    @property
    def clear(self) -> bool:
        return self.count == 0

    @property
    def waived(self) -> bool:
        return not self.clear and self.waiver is not None

    @property
    def blocking(self) -> bool:
        return not self.clear and not self.waived

    def as_json(self) -> dict[str, object]:
        return {
            "item": self.key,
            "count": self.count,
            "waived": self.waived,
            "waiver_reason": self.waiver.reason if self.waived and self.waiver else "",
        }


def roles_held(actor: User, study: Study) -> set[str]:
    """Return the roles the person holds in the study today (at a site or all sites)."""
    return set(memberships_in_force(actor, study=study).values_list("role", flat=True))


def may_sign_step(actor: User, study: Study, step: str) -> bool:
    """Return whether the person holds the step's role for every site of the study."""
    return (
        memberships_in_force(actor, study=study)
        .filter(role__in=STEP_ROLES[step], site__isnull=True)
        .exists()
    )


def may_view(actor: User, study: Study) -> bool:
    """Whoever sees every site's subjects, or signs a step of the lock, sees the checklist."""
    if site_scope(actor, Action.VIEW_SUBJECTS, study=study).all_sites:
        return True
    return bool(roles_held(actor, study) & SIGNER_ROLES)


def require_view(actor: User, study: Study) -> None:
    if not may_view(actor, study):
        raise PermissionDenied(
            _("You may not see the database lock of %(study)s.") % {"study": study.identifier}
        )


def may_read_archive(actor: User, study: Study) -> bool:
    """Return whether the person may download a lock's archived snapshot. It holds every
    value, arms included: whoever exports or inspects the whole study and may see the arms
    (an unblinded role, or anyone once the study is unblinded)."""
    if not is_unblinded(actor, study=study):
        return False
    return any(
        site_scope(actor, action, study=study).all_sites
        for action in (Action.EXPORT, Action.VIEW_AUDIT_TRAIL)
    )


def require_archive(actor: User, study: Study) -> None:
    if not may_read_archive(actor, study):
        raise PermissionDenied(
            _("You may not download the archived snapshots of %(study)s.")
            % {"study": study.identifier}
        )


def waivers_in_force(study: Study) -> dict[str, ChecklistWaiver]:
    """Return the latest waiver in force of each item."""
    found: dict[str, ChecklistWaiver] = {}
    for waiver in ChecklistWaiver.objects.filter(study=study, withdrawn_at__isnull=True):
        found.setdefault(waiver.item, waiver)  # latest first
    return found


def checklist_state(study: Study) -> list[ItemState]:
    """Return every item of the checklist as it stands now (one count query per item).

    A waiver covers its item while the count is no higher than when it was given."""
    waivers = waivers_in_force(study)
    states = []
    for item in CHECKLIST:
        count = item.count(study)
        if count is None:
            continue
        waiver = waivers.get(item.key)
        if waiver is not None and count > waiver.count:
            waiver = None
        states.append(ItemState(item.key, str(item.label), count, waiver))
    return states


def checklist_item_keys() -> list[str]:
    return [item.key for item in CHECKLIST]


def current_lock(study: Study) -> DatabaseLock | None:
    """Return the lock under way or in force, if any."""
    return (
        DatabaseLock.objects.filter(study=study, status__in=[LockStatus.SIGNING, LockStatus.LOCKED])
        .select_related("cutoff")
        .first()
    )


def _locks_in_force(study_id: int) -> QuerySet[DatabaseLock]:
    return DatabaseLock.objects.filter(study_id=study_id, status=LockStatus.LOCKED)


# Read before every save (a guard): compiled once (carnet/db/prepared.py).
_LOCK_IN_FORCE = Prepared(_locks_in_force, int)


def study_is_locked(study_id: int) -> DatabaseLock | None:
    """Return the database lock in force over the study (its writes are refused), if any."""
    return _LOCK_IN_FORCE.first(study_id)


def locks_of(study: Study) -> list[DatabaseLock]:
    """Return the study's database locks, latest first, with their signatures."""
    return list(
        DatabaseLock.objects.filter(study=study)
        .select_related("cutoff")
        .prefetch_related("signatures")
    )


def lock_of(study: Study, number: int) -> DatabaseLock:
    found = DatabaseLock.objects.filter(study=study, number=number).select_related("study").first()
    if found is None:
        raise PermissionDenied(
            _("%(study)s has no database lock %(number)s.")
            % {"study": study.identifier, "number": number}
        )
    return found


def signatures_of(lock: DatabaseLock) -> dict[str, LockSignature]:
    return {signature.step: signature for signature in lock.signatures.all()}


def next_step(lock: DatabaseLock | None) -> str:
    """Return the step whose signature comes next ("" once every step signed)."""
    if lock is None:
        return STEPS[0]
    signed = signatures_of(lock)
    return next((step for step in STEPS if step not in signed), "")


def study_by_identifier(identifier: str) -> Study:
    """Return a study by identifier, for the command line (run on the server)."""
    study = Study.objects.filter(identifier=identifier).first()
    if study is None:
        raise PermissionDenied(_("There is no study %(study)s.") % {"study": identifier})
    return study
