"""Reads of the biobank's collection side, always scoped to the actor's sites.

Who sees samples: the site's staff who view subjects (the nurse at the visit) and the biobank
technicians (MANAGE_SAMPLES). A technician sees a sample with its subject's identifier, its
visit and the subject's consent to the biobank, nothing of the casebook: subjects' pages and
values stay behind VIEW_SUBJECTS, which the role does not hold."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet
from django.utils.translation import gettext as _

from carnet.accounts.models import User
from carnet.accounts.permissions import PermissionDenied, SiteScope, site_scope
from carnet.accounts.roles import Action
from carnet.biobank.models import ProcessingStep, Sample
from carnet.studies.models import Study
from carnet.subjects.environments import Environment, environment_written, test_view_asked
from carnet.subjects.models import Consent, Subject

# Whoever may look at a subject's samples: the site's staff and the biobank.
SAMPLE_READERS = (Action.VIEW_SUBJECTS, Action.MANAGE_SAMPLES)
# Whoever may record a collection or a processing step.
SAMPLE_WRITERS = (Action.ENTER_DATA, Action.MANAGE_SAMPLES)


def environment_seen(study: Study) -> str:
    """Return the environment (test or production) whose samples are looked at."""
    if environment_written(study) == Environment.TEST or test_view_asked(study):
        return Environment.TEST
    return Environment.PRODUCTION


def sample_scope(actor: User, *, study: Study, actions: tuple[Action, ...]) -> SiteScope:
    """Return the sites where the actor may do any of ``actions``."""
    scopes = [site_scope(actor, action, study=study) for action in actions]
    if any(scope.all_sites for scope in scopes):
        return SiteScope(all_sites=True, site_ids=frozenset())
    return SiteScope(
        all_sites=False, site_ids=frozenset().union(*(scope.site_ids for scope in scopes))
    )


def _scoped(
    actor: User, study: Study, rows: QuerySet[Any], field: str = "site_id"
) -> QuerySet[Any]:
    scope = sample_scope(actor, study=study, actions=SAMPLE_READERS)
    if not scope.all_sites and not scope.site_ids:
        raise PermissionDenied(
            _("You may not view samples of %(study)s.") % {"study": study.identifier}
        )
    rows = rows.filter(environment=environment_seen(study))
    return rows if scope.all_sites else rows.filter(**{f"{field}__in": scope.site_ids})


def subject_for_samples(actor: User, *, study: Study, identifier: str) -> Subject:
    """Return a subject whose samples the actor may see; unknown and elsewhere look the same."""
    subjects = Subject.objects.filter(study=study, identifier=identifier).select_related(
        "site", "site__centre"
    )
    subject = _scoped(actor, study, subjects).first()
    if subject is None:
        raise PermissionDenied(
            _("There is no subject '%(identifier)s' you may see.") % {"identifier": identifier}
        )
    subject.study = study
    return subject


def samples_visible(actor: User, *, study: Study) -> QuerySet[Sample]:
    """Return the study's samples at the sites where the actor may see samples."""
    samples = Sample.objects.filter(study=study).select_related("subject", "site", "collection")
    return _scoped(actor, study, samples).order_by("identifier")


def sample_for_actor(actor: User, *, study: Study, identifier: str) -> Sample:
    """Return one sample the actor may see."""
    sample = samples_visible(actor, study=study).filter(identifier=identifier).first()
    if sample is None:
        raise PermissionDenied(
            _("There is no sample '%(identifier)s' you may see.") % {"identifier": identifier}
        )
    return sample


def subject_samples(subject: Subject) -> list[Sample]:
    """Return a subject's samples (primary ones, not aliquots), oldest first."""
    return list(
        Sample.objects.filter(subject=subject, parent__isnull=True)
        .select_related("collection")
        .order_by("collected_at", "identifier")
    )


def processing_steps(sample: Sample) -> list[ProcessingStep]:
    return list(ProcessingStep.objects.filter(sample=sample).order_by("started_at", "pk"))


@dataclass(frozen=True)
class ConsentScope:
    """What the subject agreed to for samples: the latest consent's answers."""

    biobank: bool
    future_research: bool
    form_version: str
    genetic_analysis: bool = False
    sharing: bool = False


def consent_scope(subject: Subject) -> ConsentScope | None:
    """Return the subject's latest consent to the biobank, None without a consent."""
    consent = Consent.objects.filter(subject=subject).order_by("-consented_on", "-pk").first()
    if consent is None:
        return None
    return ConsentScope(
        biobank=consent.biobank,
        future_research=consent.future_research,
        form_version=consent.form_version,
        genetic_analysis=consent.genetic_analysis,
        sharing=consent.sharing,
    )
