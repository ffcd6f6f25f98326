"""Reads of monitoring: the study's plan and which item values it requires, what is verified
(counted in the database), SDV progress per site and per monitor, a subject's and a form's SDV
state, and the monitoring visits with their report."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.utils.translation import gettext as _

from carnet.accounts.models import StudySite, User
from carnet.accounts.permissions import PermissionDenied, SiteScope, site_scope
from carnet.accounts.roles import Action
from carnet.capture.models import FormInstance, ItemValue
from carnet.monitoring.models import MonitoringPlan, MonitoringVisit, PlanRule, SourceVerification
from carnet.studies.definition.model import Item
from carnet.studies.models import Study, StudyVersion
from carnet.subjects.environments import Environment
from carnet.subjects.models import Subject

# --- the plan ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """A study's monitoring plan as the counts apply it."""

    rule: str = PlanRule.ALL
    first_patients: int = 3
    share_percent: int = 20
    seed: str = "carnet"
    updated_by: str = ""
    updated_at: datetime | None = None


def plan_of(study: Study) -> Plan:
    """Return the study's monitoring plan; a study without one verifies every item."""
    found = MonitoringPlan.objects.filter(study=study).first()
    if found is None:
        return Plan()
    return Plan(
        rule=found.rule,
        first_patients=found.first_patients,
        share_percent=found.share_percent,
        seed=found.seed,
        updated_by=found.updated_by,
        updated_at=found.updated_at,
    )


def plan_for_actor(actor: User, study: Study) -> Plan:
    """Return the study's plan to whoever may view its subjects somewhere."""
    _scope(actor, study)
    return plan_of(study)


@dataclass(frozen=True)
class PlanItems:
    """The items of every published version a monitor verifies, and the SDV-critical ones, by
    OID. Calculated items are never transcribed from a source: nobody verifies them."""

    verifiable: frozenset[str]
    critical: frozenset[str]
    by_oid: dict[str, Item] = field(default_factory=dict)
    # The study's versions by id, each read (and its definition decoded) once.
    versions: dict[int, StudyVersion] = field(default_factory=dict)


def plan_items(study: Study) -> PlanItems:
    """Return the study's verifiable and SDV-critical items (from every version data use)."""
    by_oid: dict[str, Item] = {}
    versions = {v.pk: v for v in StudyVersion.objects.filter(study=study).order_by("number")}
    for version in versions.values():
        for form in version.parsed().forms:
            for item in form.items():
                if item.type != "calculated":
                    by_oid[item.oid] = item
    critical = frozenset(oid for oid, item in by_oid.items() if item.sdv_critical)
    return PlanItems(
        verifiable=frozenset(by_oid), critical=critical, by_oid=by_oid, versions=versions
    )


def drawn(plan: Plan, study: Study, subject_identifier: str) -> bool:
    """Return whether the random share draws this subject for full SDV.

    Each subject's draw depends only on the study, the seed and its own identifier, so it never
    changes when other patients are included, and the same seed draws the same patients."""
    digest = hashlib.sha256(f"{study.identifier}:{plan.seed}:{subject_identifier}".encode())
    return int.from_bytes(digest.digest()[:8], "big") % 10_000 < plan.share_percent * 100


def fully_verified_subjects(study: Study, plan: Plan) -> list[int]:
    """Return the ids of the subjects whose every item the plan requires (first N per site in
    order of inclusion, or the drawn share); the others need their SDV-critical items only."""
    if plan.rule not in {PlanRule.FIRST_PATIENTS, PlanRule.RANDOM_SHARE}:
        return []
    rows = (
        Subject.objects.filter(study=study, environment=Environment.PRODUCTION)
        .order_by("site_id", "included_on", "sequence", "id")
        .values_list("id", "site_id", "identifier")
    )
    if plan.rule == PlanRule.RANDOM_SHARE:
        return [pk for pk, _site, identifier in rows if drawn(plan, study, identifier)]
    seen: dict[int, int] = {}
    chosen = []
    for pk, site_id, _identifier in rows:
        seen[site_id] = seen.get(site_id, 0) + 1
        if seen[site_id] <= plan.first_patients:
            chosen.append(pk)
    return chosen


def _entered_values(study: Study) -> QuerySet[ItemValue]:
    """Return the study's production item values holding a value or a missing code."""
    return (
        ItemValue.objects.filter(
            form_instance__subject__study=study,
            form_instance__environment=Environment.PRODUCTION,
            form_instance__version__gt=0,
            removed=False,
        )
        .exclude(text="", missing_code="")
        .order_by()
    )


def required_values(study: Study, plan: Plan | None = None) -> QuerySet[ItemValue]:
    """Return the item values the study's plan requires a monitor to verify."""
    plan = plan or plan_of(study)
    items = plan_items(study)
    values = _entered_values(study)
    if plan.rule == PlanRule.ALL:
        return values.filter(item_oid__in=items.verifiable)
    required = Q(item_oid__in=items.critical)
    if plan.rule != PlanRule.CRITICAL:
        full = fully_verified_subjects(study, plan)
        required |= Q(item_oid__in=items.verifiable, form_instance__subject_id__in=full)
    return values.filter(required)


def _verified() -> Exists:
    return Exists(SourceVerification.objects.filter(item_value=OuterRef("pk"), reset_at=None))


def sdv_outstanding(*, study: Study) -> int:
    """Return how many item values the plan requires that no monitor has verified (or whose
    verification a later change reset), counted in the database."""
    return required_values(study).exclude(_verified()).count()


# --- progress ------------------------------------------------------------------------------------


def _scope(actor: User | None, study: Study, action: Action = Action.VIEW_SUBJECTS) -> SiteScope:
    """Return the sites the actor covers; the command line (None, run on the server) all."""
    if actor is None:
        return SiteScope(all_sites=True, site_ids=frozenset())
    scope = site_scope(actor, action, study=study)
    if scope.empty:
        raise PermissionDenied(_refusal(study))
    return scope


def _refusal(study: Study) -> str:
    return _("You may not view subjects of %(study)s.") % {"study": study.identifier}


@dataclass(frozen=True)
class SiteProgress:
    site: str
    required: int
    verified: int

    @property
    def outstanding(self) -> int:
        return self.required - self.verified

    @property
    def percent(self) -> int:
        return 100 if not self.required else (100 * self.verified) // self.required


@dataclass(frozen=True)
class MonitorProgress:
    monitor: str
    verified: int  # in force
    reset: int  # reset by a later change
    subjects: int


def sdv_progress_by_site(actor: User | None, study: Study) -> list[SiteProgress]:
    """Return, for each site the actor covers, the values the plan requires and those verified
    (two GROUP BY queries)."""
    scope = _scope(actor, study)
    required = required_values(study)
    if not scope.all_sites:
        required = required.filter(form_instance__subject__site_id__in=scope.site_ids)
    site = "form_instance__subject__site__code"
    totals = dict(required.values_list(site).annotate(n=Count("id")).values_list(site, "n"))
    done = dict(
        required.filter(_verified())
        .values_list(site)
        .annotate(n=Count("id"))
        .values_list(site, "n")
    )
    sites = StudySite.objects.filter(study=study).order_by("code")
    if not scope.all_sites:
        sites = sites.filter(id__in=scope.site_ids)
    return [
        SiteProgress(site=code, required=totals.get(code, 0), verified=done.get(code, 0))
        for code in sites.values_list("code", flat=True)
    ]


def sdv_progress_by_monitor(actor: User | None, study: Study) -> list[MonitorProgress]:
    """Return, for each person who verified data at the actor's sites, what is in force and what
    later changes reset (one GROUP BY query)."""
    scope = _scope(actor, study)
    rows = SourceVerification.objects.filter(study=study)
    if not scope.all_sites:
        rows = rows.filter(site_id__in=scope.site_ids)
    grouped = (
        rows.order_by()
        .values("verified_by_name")
        .annotate(
            verified=Count("id", filter=Q(reset_at=None)),
            reset=Count("id", filter=Q(reset_at__isnull=False)),
            subjects=Count("subject", distinct=True),
        )
        .order_by("verified_by_name")
    )
    return [
        MonitorProgress(
            monitor=row["verified_by_name"],
            verified=row["verified"],
            reset=row["reset"],
            subjects=row["subjects"],
        )
        for row in grouped
    ]


# --- a subject's and a form's SDV state ----------------------------------------------------------


@dataclass
class ItemState:
    """One entered item value and its SDV: verified (by whom), reset (why), or waiting."""

    item: str
    row: int
    label: str
    required: bool
    verification: SourceVerification | None = None
    last_reset: SourceVerification | None = None

    @property
    def verified(self) -> bool:
        return self.verification is not None

    @property
    def place(self) -> str:
        return f"{self.item}[{self.row}]" if self.row else self.item


@dataclass
class FormState:
    instance: FormInstance
    label: str
    items: list[ItemState]

    @property
    def verified(self) -> int:
        return sum(1 for item in self.items if item.verified)

    @property
    def required(self) -> int:
        return sum(1 for item in self.items if item.required)

    @property
    def required_verified(self) -> int:
        return sum(1 for item in self.items if item.required and item.verified)

    @property
    def where(self) -> str:
        i = self.instance
        repeat = f"#{i.repeat}" if i.repeat > 1 else ""
        return f"{i.event}#{i.occurrence} {i.form}{repeat}"


def sdv_states(
    subject: Subject, *, instance: FormInstance | None = None, language: str = "en"
) -> list[FormState]:
    """Return the SDV state of every entered item value of the subject's saved forms (or of one
    form instance): what the plan requires, what is verified, what a change reset. No value is
    shown: the form beside it shows what the reader may see."""
    study = subject.study
    plan = plan_of(study)
    items = plan_items(study)
    full = plan.rule == PlanRule.ALL or subject.pk in fully_verified_subjects(study, plan)
    # Each version's definition is read once below, not once per form instance (a casebook of
    # 60 cycles decoded it 60 times).
    instances = FormInstance.objects.filter(subject=subject, version__gt=0)
    if instance is not None:
        instances = instances.filter(pk=instance.pk)
    instances = instances.order_by("environment", "event", "occurrence", "form", "repeat")
    values = (
        ItemValue.objects.filter(
            form_instance__in=instances, removed=False, item_oid__in=items.verifiable
        )
        .exclude(text="", missing_code="")
        .order_by("form_instance_id", "id")
    )
    verifications: dict[int, SourceVerification] = {}
    resets: dict[int, SourceVerification] = {}
    for verification in SourceVerification.objects.filter(form_instance__in=instances).order_by(
        "verified_at", "id"
    ):
        kept = verifications if verification.in_force else resets
        kept[verification.item_value_id] = verification
    by_instance: dict[int, list[ItemState]] = {}
    for value in values:
        item = items.by_oid.get(value.item_oid)
        by_instance.setdefault(value.form_instance_id, []).append(
            ItemState(
                item=value.item,
                row=value.row,
                label=item.label.text(language) if item else value.item,
                required=full or value.item_oid in items.critical,
                verification=verifications.get(value.pk),
                last_reset=None if value.pk in verifications else resets.get(value.pk),
            )
        )
    states = []
    for form_instance in instances:
        try:
            version = items.versions[form_instance.study_version_id]
            form = version.parsed().form(form_instance.form)
            label = form.label.text(language)
        except StopIteration:
            label = form_instance.form
        states.append(
            FormState(
                instance=form_instance, label=label, items=by_instance.get(form_instance.pk, [])
            )
        )
    return states


def values_in_place(
    subject: Subject,
    *,
    event: str = "",
    occurrence: int | None = None,
    form: str = "",
    repeat: int | None = None,
    item: str = "",
    row: int | None = None,
) -> QuerySet[ItemValue]:
    """Return the subject's entered, verifiable values of a place (the whole casebook, a visit,
    a form, or one item), not yet verified."""
    values = ItemValue.objects.filter(
        form_instance__subject=subject,
        form_instance__version__gt=0,
        removed=False,
        item_oid__in=plan_items(subject.study).verifiable,
    ).exclude(text="", missing_code="")
    if event:
        values = values.filter(
            form_instance__event=event, form_instance__occurrence=occurrence or 1
        )
    if form:
        values = values.filter(form_instance__form=form, form_instance__repeat=repeat or 1)
    if item:
        values = values.filter(item=item, row=row or 0)
    return (
        values.exclude(_verified())
        .select_related("form_instance")
        .order_by("form_instance_id", "id")
    )


# --- monitoring visits ---------------------------------------------------------------------------


def visits_of_study(actor: User | None, study: Study) -> QuerySet[MonitoringVisit]:
    """Return the study's monitoring visits at the sites the actor covers, latest first."""
    scope = _scope(actor, study)
    visits = MonitoringVisit.objects.filter(study=study).select_related("site", "site__centre")
    if not scope.all_sites:
        visits = visits.filter(site_id__in=scope.site_ids)
    return visits.order_by("-visit_date", "-id")


def visit_of_study(actor: User | None, study: Study, pk: int) -> MonitoringVisit:
    """Return one visit the actor may see; an unknown and a hidden visit look the same."""
    found = visits_of_study(actor, study).filter(pk=pk).first()
    if found is None:
        raise PermissionDenied(_refusal(study))
    found.study = study
    return found


def open_visit_of(monitor: User, site: StudySite) -> MonitoringVisit | None:
    """Return the monitor's open visit at the site (the latest), which their SDV joins."""
    return (
        MonitoringVisit.objects.filter(monitor=monitor, site=site, closed_at=None)
        .order_by("-visit_date", "-id")
        .first()
    )


@dataclass(frozen=True)
class VisitReport:
    visit: MonitoringVisit
    subjects: list[str]
    verified_by_subject: list[tuple[str, int]]  # (subject, item values verified during the visit)
    verified: int
    reset_since: int


def visit_report(visit: MonitoringVisit) -> VisitReport:
    """Return a monitoring visit's report: subjects reviewed, the SDV done during it (counted
    by subject in the database), and how much of it later changes reset."""
    linked = SourceVerification.objects.filter(visit=visit).order_by()
    by_subject = list(
        linked.values_list("subject__identifier")
        .annotate(n=Count("id"))
        .order_by("subject__identifier")
        .values_list("subject__identifier", "n")
    )
    return VisitReport(
        visit=visit,
        subjects=sorted(visit.subjects.values_list("identifier", flat=True)),
        verified_by_subject=by_subject,
        verified=linked.count(),
        reset_since=linked.filter(reset_at__isnull=False).count(),
    )


def site_for(actor: User, study: Study, code: str, action: Action) -> StudySite:
    """Return a site of the study where the actor may do ``action``."""
    scope = site_scope(actor, action, study=study)
    site = StudySite.objects.filter(study=study, code=code).select_related("centre").first()
    if site is None or not scope.allows(site):
        raise PermissionDenied(_refusal(study))
    return site


def study_by_identifier(identifier: str) -> Study:
    """Return a study by identifier, for the command line (run on the server)."""
    study = Study.objects.filter(identifier=identifier).first()
    if study is None:
        raise PermissionDenied(_("There is no study %(study)s.") % {"study": identifier})
    return study
