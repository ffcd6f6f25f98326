"""Reads of locks and signatures: what covers a form instance, a study's locks, a subject's
locks and signatures, and the casebooks waiting for the investigator's signature."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils.translation import gettext as _

from carnet.accounts.models import StudySite, User
from carnet.accounts.permissions import PermissionDenied, site_scope
from carnet.accounts.roles import Action
from carnet.capture.models import FormInstance
from carnet.db.prepared import Prepared
from carnet.oversight.models import DataLock, DataSignature, Scope
from carnet.studies.models import Study
from carnet.subjects.models import Subject
from carnet.subjects.selectors import subjects_visible


def _covering(subject: Subject | int, event: str, occurrence: int, form: str, repeat: int) -> Q:
    return (
        Q(scope=Scope.SUBJECT, subject=subject)
        | Q(scope=Scope.VISIT, subject=subject, event=event, occurrence=occurrence)
        | Q(
            scope=Scope.FORM,
            subject=subject,
            event=event,
            occurrence=occurrence,
            form=form,
            repeat=repeat,
        )
    )


def lock_covering(
    subject: Subject, event: str, occurrence: int, form: str, repeat: int
) -> DataLock | None:
    """Return a lock in force over this form instance (its own, its visit's, its subject's or
    its site's), the widest first; None when the data are free."""
    return _LOCK_COVERING.first(
        subject.study_id, subject.pk, subject.site_id, event, occurrence, form, repeat
    )


def _locks_covering(
    study_id: int,
    subject_id: int,
    site_id: int,
    event: str,
    occurrence: int,
    form: str,
    repeat: int,
) -> QuerySet[DataLock]:
    covering = _covering(subject_id, event, occurrence, form, repeat) | Q(
        scope=Scope.SITE, site_id=site_id
    )
    return (
        DataLock.objects.filter(study_id=study_id, unlocked_at__isnull=True)
        .filter(covering)
        .select_related("site", "subject")
        .order_by("locked_at", "id")
    )


# Read before every save (a guard): compiled once (carnet/db/prepared.py).
_LOCK_COVERING = Prepared(_locks_covering, int, int, int, str, int, str, int)


def signatures_covering(
    subject: Subject | int, event: str, occurrence: int, form: str, repeat: int
) -> QuerySet[DataSignature]:
    """Return the valid signatures over this form instance (its own, its visit's, the casebook)."""
    return (
        DataSignature.objects.filter(voided_at__isnull=True)
        .filter(_covering(subject, event, occurrence, form, repeat))
        .order_by("signed_at", "id")
    )


def _signatures_covering_locked(
    subject_id: int, event: str, occurrence: int, form: str, repeat: int
) -> QuerySet[DataSignature]:
    return signatures_covering(subject_id, event, occurrence, form, repeat).select_for_update()


# Read by every save that changes data (a listener): compiled once (carnet/db/prepared.py).
_SIGNATURES_COVERING_LOCKED = Prepared(_signatures_covering_locked, int, str, int, str, int)


def signatures_covering_locked(
    subject: Subject, event: str, occurrence: int, form: str, repeat: int
) -> list[DataSignature]:
    """Return the valid signatures over this form instance, locked until the transaction ends
    (the change that voids them is then the only one)."""
    return _SIGNATURES_COVERING_LOCKED(subject.pk, event, occurrence, form, repeat)


def locks_of_subject(subject: Subject) -> list[DataLock]:
    """Return the locks in force over any of the subject's data (the site's included)."""
    return list(
        DataLock.objects.filter(study_id=subject.study_id, unlocked_at__isnull=True)
        .filter(Q(subject=subject) | Q(scope=Scope.SITE, site_id=subject.site_id))
        .select_related("site", "subject")
        .order_by("locked_at", "id")
    )


def signatures_of_subject(subject: Subject) -> list[DataSignature]:
    """Return every signature of the subject's data, voided ones included, latest first."""
    return list(
        DataSignature.objects.filter(subject=subject).select_related("subject", "subject__site")
    )


def _scope_or_refuse(actor: User, study: Study, action: Action) -> tuple[bool, frozenset[int]]:
    scope = site_scope(actor, action, study=study)
    if scope.empty:
        raise PermissionDenied(_refusal(study))
    return scope.all_sites, scope.site_ids


def _refusal(study: Study) -> str:
    return _("You may not view subjects of %(study)s.") % {"study": study.identifier}


def locks_of_study(actor: User, study: Study, *, in_force: bool = False) -> QuerySet[DataLock]:
    """Return the study's locks at the sites where the actor may view subjects, latest first."""
    all_sites, site_ids = _scope_or_refuse(actor, study, Action.VIEW_SUBJECTS)
    locks = DataLock.objects.filter(study=study).select_related("site", "subject")
    if not all_sites:
        locks = locks.filter(site_id__in=site_ids)
    if in_force:
        locks = locks.filter(unlocked_at__isnull=True)
    return locks.order_by("-locked_at", "-id")


def lock_of_study(actor: User, study: Study, pk: int) -> DataLock:
    """Return one lock the actor may see; an unknown and a hidden lock look the same."""
    found = locks_of_study(actor, study).filter(pk=pk).first()
    if found is None:
        raise PermissionDenied(_refusal(study))
    found.study = study
    return found


def site_of_study(actor: User, study: Study, code: str, action: Action) -> StudySite:
    """Return a site of the study where the actor may do ``action``."""
    scope = site_scope(actor, action, study=study)
    site = StudySite.objects.filter(study=study, code=code).select_related("centre").first()
    if site is None or not scope.allows(site):
        raise PermissionDenied(_refusal(study))
    return site


@dataclass(frozen=True)
class AwaitingSite:
    """One site's casebooks that wait for the investigator's signature."""

    site: StudySite
    subjects: list[Subject]


def casebooks_awaiting_signature(actor: User, study: Study) -> list[AwaitingSite]:
    """Return, site by site, the visible subjects with saved data and no valid signature of
    their whole casebook (never signed, or voided by a later change)."""
    signed = DataSignature.objects.filter(
        subject=OuterRef("pk"), scope=Scope.SUBJECT, voided_at__isnull=True
    )
    saved = FormInstance.objects.filter(subject=OuterRef("pk"), version__gt=0)
    subjects = (
        subjects_visible(actor, study=study)
        .filter(Exists(saved))
        .exclude(Exists(signed))
        .order_by("site__code", "identifier")
    )
    by_site: dict[int, AwaitingSite] = {}
    for subject in subjects:
        by_site.setdefault(subject.site_id, AwaitingSite(subject.site, [])).subjects.append(subject)
    return list(by_site.values())


def places_of_subject(subject: Subject) -> list[tuple[str, str]]:
    """Return the places of the subject's saved data a lock or a signature may name, as
    (value, label): "subject", "visit:EVENT:N", "form:EVENT:N:FORM:REPEAT"."""
    visits: dict[tuple[str, int], list[tuple[str, int]]] = {}
    for event, occurrence, form, repeat in (
        FormInstance.objects.filter(subject=subject, version__gt=0)
        .order_by("event", "occurrence", "form", "repeat")
        .values_list("event", "occurrence", "form", "repeat")
    ):
        visits.setdefault((event, occurrence), []).append((form, repeat))
    places = [("subject", subject.identifier)]
    for (event, occurrence), forms in visits.items():
        places.append((f"visit:{event}:{occurrence}", f"{event}#{occurrence}"))
        for form, repeat in forms:
            label = f"{event}#{occurrence} {form}" + (f"#{repeat}" if repeat > 1 else "")
            places.append((f"form:{event}:{occurrence}:{form}:{repeat}", label))
    return places


def study_by_identifier(identifier: str) -> Study:
    """Return a study by identifier, for the command line (run on the server)."""
    study = Study.objects.filter(identifier=identifier).first()
    if study is None:
        raise PermissionDenied(_("There is no study %(study)s.") % {"study": identifier})
    return study


def command_place(
    study: Study,
    *,
    site: str = "",
    subject: str = "",
    event: str = "",
    occurrence: int | None = None,
    form: str = "",
    repeat: int = 1,
) -> tuple[str, StudySite, Subject | None]:
    """Return the (scope, site, subject) a command line names: a site alone, a subject, a
    subject's visit (event and occurrence) or one of its forms."""
    found = None
    if subject:
        found = (
            Subject.objects.filter(study=study, identifier=subject)
            .select_related("site", "study")
            .first()
        )
        if found is None:
            raise PermissionDenied(
                _("There is no subject '%(identifier)s' you may see.") % {"identifier": subject}
            )
        place_site = found.site
    else:
        site_found = StudySite.objects.filter(study=study, code=site).first()
        if site_found is None:
            raise PermissionDenied(_("There is no site %(site)s in this study.") % {"site": site})
        place_site = site_found
    scope = Scope.SITE
    if found is not None:
        scope = Scope.FORM if form else Scope.VISIT if event else Scope.SUBJECT
    return scope, place_site, found


def lock_in_force_at(study: Study, keys: dict[str, object], site: StudySite) -> DataLock:
    """Return the lock in force at exactly this place; refuse when there is none."""
    found = (
        DataLock.objects.filter(study=study, site=site, unlocked_at__isnull=True, **keys)
        .select_related("site", "subject", "study")
        .first()
    )
    if found is None:
        raise PermissionDenied(_("No lock is in force there."))
    return found


def study_locks(study: Study, *, in_force: bool = False) -> QuerySet[DataLock]:
    """Return every lock of the study, oldest first (the command line, run on the server)."""
    locks = DataLock.objects.filter(study=study).select_related("site", "subject")
    if in_force:
        locks = locks.filter(unlocked_at__isnull=True)
    return locks.order_by("locked_at", "id")
