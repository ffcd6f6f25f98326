"""Every page × every role × own site / other site / expired / no membership, plus anonymous
visitors and system administrators. Fails on any 2xx the rules do not allow, on any refusal they
do not expect, and when a page exists that the table below does not describe."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

import pytest
import time_machine
from django.test import Client
from django.urls import URLPattern
from django_otp.plugins.otp_totp.models import TOTPDevice

from carnet.accounts import urls as accounts_urls
from carnet.accounts.roles import GRANTS, SITE_ROLES, Action, Role
from carnet.accounts.services import role_revoke
from carnet.capture import urls as capture_urls
from carnet.capture.services import form_save
from carnet.core.clock import utc_now, utc_today
from carnet.database_lock import urls as database_lock_urls
from carnet.interop import urls as interop_urls
from carnet.laboratory import urls as laboratory_urls
from carnet.messaging import urls as messaging_urls
from carnet.quality import urls as quality_urls
from carnet.quality.deviations import deviation_declare
from carnet.quality.models import Query
from carnet.quality.recheck_models import RecheckRun
from carnet.quality.services import query_raise
from carnet.randomization import urls as randomization_urls
from carnet.reports import urls as reports_urls
from carnet.safety import urls as safety_urls
from carnet.safety.services import sae_report_open
from carnet.studies import urls as studies_urls
from carnet.studies.services import study_mode_change
from carnet.subjects import urls as subjects_urls
from carnet.subjects.models import News, ScreeningEntry, Subject
from carnet.subjects.services import ConsentGiven, subject_include, subject_settings_set
from carnet.web import urls as web_urls
from tests.accounts.personas import ADMIN, World, person, world
from tests.web.helpers import PASSWORD, current_code, enrol

pytestmark = pytest.mark.django_db

SITUATIONS = ("own site", "other site", "expired", "no membership")
Rule = Callable[[str, str], bool]


def everyone(role: str, situation: str) -> bool:
    return True


def nobody(role: str, situation: str) -> bool:
    return False


def study_member(role: str, situation: str) -> bool:
    return situation in {"own site", "other site"} and Action.VIEW_STUDY in GRANTS[role]


def subject_viewer(role: str, situation: str) -> bool:
    """Lists across subjects: whoever may view subjects at some site (each sees their sites)."""
    return situation in {"own site", "other site"} and Action.VIEW_SUBJECTS in GRANTS[role]


def includer(role: str, situation: str) -> bool:
    return situation in {"own site", "other site"} and Action.INCLUDE_SUBJECT in GRANTS[role]


def sees_site_a(role: str, situation: str) -> bool:
    """Subject 01-001 is at site A: those who may view subjects there (or at every site)."""
    return situation == "own site" and Action.VIEW_SUBJECTS in GRANTS[role]


def identity_at_site_a(role: str, situation: str) -> bool:
    """Identities: the staff of the subject's own site only, never a central role."""
    return situation == "own site" and Action.VIEW_IDENTITY in GRANTS[role]


def study_data_manager(role: str, situation: str) -> bool:
    """A data manager of the whole study ("own site" is every site for a central role): a
    re-check opens and closes queries at every site."""
    return situation == "own site" and Action.MANAGE_DATA in GRANTS[role]


def study_manager(role: str, situation: str) -> bool:
    """The study's settings: those who manage the whole study."""
    return situation == "own site" and Action.MANAGE_STUDY in GRANTS[role]


def data_manager(role: str, situation: str) -> bool:
    """The workspace: data managers, each with the sites they cover."""
    return situation in {"own site", "other site"} and Action.MANAGE_DATA in GRANTS[role]


def exporter(role: str, situation: str) -> bool:
    return situation in {"own site", "other site"} and Action.EXPORT in GRANTS[role]


def importer(role: str, situation: str) -> bool:
    """The import page: whoever enters or manages data at some site of the study."""
    return situation in {"own site", "other site"} and bool(
        {Action.ENTER_DATA, Action.MANAGE_DATA} & GRANTS[role]
    )


def odm_importer(role: str, situation: str) -> bool:
    """The ODM import page: importers (its data form) and those who manage a study's
    definition, for all its sites (its study-file form)."""
    return importer(role, situation) or (
        situation == "own site" and Action.MANAGE_STUDY in GRANTS[role]
    )


def includer_at_site_a(role: str, situation: str) -> bool:
    """A paper allocation during an outage: the site staff who include subjects there."""
    return situation == "own site" and Action.INCLUDE_SUBJECT in GRANTS[role]


def pharmacovigilance_at_site_a(role: str, situation: str) -> bool:
    """Unblinding for a case: the pharmacovigilance role only, for a subject it may see."""
    return role == Role.PHARMACOVIGILANCE and sees_site_a(role, situation)


def database_lock_viewer(role: str, situation: str) -> bool:
    """The database lock: a right over every site's subjects, or a role that signs the lock."""
    if situation not in {"own site", "other site"}:
        return False
    signers = {
        Role.DATA_MANAGER,
        Role.STATISTICIAN,
        Role.UNBLINDED_STATISTICIAN,
        Role.COORDINATING_INVESTIGATOR,
        Role.SPONSOR,
    }
    all_sites = situation == "own site" and role not in SITE_ROLES and role != Role.MONITOR
    return role in signers or (all_sites and Action.VIEW_SUBJECTS in GRANTS[role])


def safety_reader(role: str, situation: str) -> bool:
    """Pharmacovigilance pages: whoever reports safety or manages data at some site."""
    return situation in {"own site", "other site"} and bool(
        {Action.REPORT_SAFETY, Action.MANAGE_DATA} & GRANTS[role]
    )


def safety_reader_at_site_a(role: str, situation: str) -> bool:
    """An SAE report of 01-001: whoever reports safety or manages data at site A."""
    return situation == "own site" and bool(
        {Action.REPORT_SAFETY, Action.MANAGE_DATA} & GRANTS[role]
    )


FORM = "/studies/MINI/subjects/01-001/forms/baseline/1/vitals/"
# Page -> (method, rule for a signed-in person with a role; administrators may see everything).
PAGES: dict[str, tuple[str, Rule]] = {
    "/": ("GET", everyone),
    "/healthz": ("GET", everyone),
    "/login/": ("GET", everyone),
    "/account/": ("GET", everyone),
    "/account/two-factor/": ("GET", everyone),
    "/account/messages/": ("GET", everyone),
    "/studies/MINI/": ("GET", study_member),
    "/studies/MINI/versions/1/": ("GET", study_member),
    "/administration/": ("GET", nobody),
    "/administration/centres/": ("GET", nobody),
    "/administration/studies/": ("GET", nobody),
    "/administration/studies/MINI/sites/": ("GET", nobody),
    "/administration/studies/MINI/memberships/": ("GET", nobody),
    "/administration/users/": ("GET", nobody),
    "/administration/tokens/": ("GET", nobody),
    "/administration/lockouts/": ("GET", nobody),
    "/studies/MINI/subjects/": ("GET", subject_viewer),
    "/studies/MINI/subjects/new/": ("GET", includer),
    "/studies/MINI/subjects/01-001/": ("GET", sees_site_a),
    "/studies/MINI/subjects/01-001/identity/": ("GET", identity_at_site_a),
    "/studies/MINI/screening-log/": ("GET", subject_viewer),
    "/studies/MINI/overdue/": ("GET", subject_viewer),
    "/studies/MINI/follow-up-campaign/": ("GET", subject_viewer),
    # Laboratory values: across subjects (each sees their sites), or one subject's; the ranges
    # are the study's own.
    "/studies/MINI/laboratory/": ("GET", subject_viewer),
    "/studies/MINI/laboratory.csv": ("GET", subject_viewer),
    "/studies/MINI/laboratory/ranges/": ("GET", study_member),
    "/studies/MINI/subjects/01-001/laboratory/": ("GET", sees_site_a),
    # Data capture: the casebook, a form with data, an item's history.
    "/studies/MINI/subjects/01-001/casebook/": ("GET", sees_site_a),
    FORM: ("GET", sees_site_a),
    FORM + "history/weight/": ("GET", sees_site_a),
    "/studies/MINI/imports/": ("GET", importer),
    "/studies/MINI/odm/import/": ("GET", odm_importer),
    # Quality: queries (each sees those of their sites), the query drawer of a form, the
    # workspace, protocol deviations, whole-study re-checks. {query}, {deviation} and {run} are
    # the objects the world below creates at site A.
    "/studies/MINI/queries/": ("GET", subject_viewer),
    "/studies/MINI/queries/export.csv": ("GET", subject_viewer),
    "/studies/MINI/queries/{query}/": ("GET", sees_site_a),
    "/studies/MINI/queries/settings/": ("GET", study_manager),
    FORM + "queries/": ("GET", sees_site_a),
    "/studies/MINI/workspace/": ("GET", data_manager),
    "/studies/MINI/deviations/": ("GET", subject_viewer),
    "/studies/MINI/deviations.csv": ("GET", subject_viewer),
    "/studies/MINI/deviations/{deviation}/": ("GET", sees_site_a),
    "/studies/MINI/subjects/01-001/deviations/": ("GET", sees_site_a),
    "/studies/MINI/checks/rechecks/": ("GET", study_data_manager),
    "/studies/MINI/checks/rechecks/{run}/progress/": ("GET", study_data_manager),
    # Randomisation (MINI has no randomisation list: the subject's step and the outage pages
    # say so to those who may see them; no site has sealed envelopes to print).
    "/studies/MINI/subjects/01-001/randomisation/": ("GET", sees_site_a),
    "/studies/MINI/subjects/01-001/unblinding/": ("GET", sees_site_a),
    "/studies/MINI/subjects/01-001/pharmacovigilance-unblinding/": (
        "GET",
        pharmacovigilance_at_site_a,
    ),
    "/studies/MINI/subjects/01-001/randomisation/paper/": ("GET", includer_at_site_a),
    "/studies/MINI/randomisation/outage/": ("GET", subject_viewer),
    "/studies/MINI/randomisation/envelopes/01.pdf": ("GET", nobody),
    "/studies/MINI/randomisation/report/": ("GET", study_member),
    "/studies/MINI/randomisation/report.pdf": ("GET", study_member),
    # Exports (cut-offs and their files): those who export (the page refuses the others).
    "/studies/MINI/exports/": ("GET", exporter),
    # Documents for the trial master file: the CRF for every member of the study; a subject's
    # archival casebook for whoever sees the subject.
    "/studies/MINI/documents/": ("GET", study_member),
    "/studies/MINI/documents/crf-annotated.html": ("GET", study_member),
    "/studies/MINI/subjects/01-001/casebook.pdf": ("GET", sees_site_a),
    # The database lock: its checklist and signatures.
    "/studies/MINI/database-lock/": ("GET", database_lock_viewer),
    # Pharmacovigilance: the clocks' dashboard, the RSI, the reconciliation (each sees their
    # sites); {sae} is the SAE report of 01-001 the world below opens.
    "/studies/MINI/safety/": ("GET", safety_reader),
    "/studies/MINI/safety/rsi/": ("GET", safety_reader),
    "/studies/MINI/safety/reconciliation/": ("GET", safety_reader),
    "/studies/MINI/safety/{sae}/": ("GET", safety_reader_at_site_a),
    # The design calculator reads no study; a study's statistical reports of a cut-off are for
    # those who export its data (pooled when blinded).
    "/design/": ("GET", everyone),
    "/studies/MINI/reports/": ("GET", exporter),
    "/studies/MINI/reports/MATRIX/survival/": ("GET", exporter),
    "/studies/MINI/reports/MATRIX/survival.pdf": ("GET", exporter),
    # The centre's activity report: every signed-in person, counting only the studies and sites
    # their role allows (tests/reports/test_activity.py checks what each one counts).
    "/activity/": ("GET", everyone),
    "/activity.csv": ("GET", everyone),
    "/activity.pdf": ("GET", everyone),
}
# Pages that only act (POST) or only redirect: no person may get a 2xx from them by GET.
ACTIONS_AND_REDIRECTS = {
    "login/verify/",
    "logout/",
    "password/set/<str:uidb64>/<str:token>/",
    "language/",
    "account/password/",
    "account/sessions/end-others/",
    "account/two-factor/recovery-codes/",
    "account/tokens/",
    "account/tokens/<int:token_id>/revoke/",
    "studies/",
    "studies/<str:identifier>/mode/",
    "studies/<str:identifier>/publish/",
    "studies/<str:identifier>/test-view/",
    "administration/users/<str:username>/",
    "studies/<str:identifier>/subjects/<str:subject>/consents/",
    "studies/<str:identifier>/subjects/<str:subject>/withdrawals/",
    "studies/<str:identifier>/subjects/<str:subject>/study-status/",
    "studies/<str:identifier>/subjects/<str:subject>/treatment-status/",
    "studies/<str:identifier>/subjects/<str:subject>/visits/",
    "studies/<str:identifier>/subjects/<str:subject>/news/",
    "studies/<str:identifier>/subjects/<str:subject>/transfer/",
    "studies/<str:identifier>/subjects/<str:subject>/eligibility-review/",
    # Data capture's actions, and a file of an item (MINI's subject has none: 404 for all).
    "studies/<str:identifier>/subjects/<str:subject>/forms/<str:event>/<int:occurrence>/<str:form>/validate/",
    "studies/<str:identifier>/subjects/<str:subject>/forms/<str:event>/<int:occurrence>/<str:form>/rows/<str:group>/new/",
    "studies/<str:identifier>/subjects/<str:subject>/forms/<str:event>/<int:occurrence>/<str:form>/not-done/",
    "studies/<str:identifier>/subjects/<str:subject>/forms/<str:event>/<int:occurrence>/<str:form>/reopen/",
    "studies/<str:identifier>/subjects/<str:subject>/forms/<str:event>/<int:occurrence>/<str:form>/files/<str:item>/",
    # Quality's actions: a step of a query, a form's data review mark.
    "studies/<str:identifier>/queries/<int:pk>/<str:action>/",
    "studies/<str:identifier>/subjects/<str:subject>/forms/<str:event>/<int:occurrence>/<str:form>/data-review/",
    # An export run and a site's casebook archive answer only the person who asked for them
    # (none exists in this world: 404 for everyone; tests/interop checks their owner reads
    # them); asking for a site's archive is a POST.
    "studies/<str:identifier>/exports/<int:run_id>/progress/",
    # An import run answers only the person who asked for it, likewise (tests/capture).
    "studies/<str:identifier>/imports/<int:run_id>/progress/",
    "studies/<str:identifier>/exports/<int:run_id>/download/",
    "studies/<str:identifier>/documents/sites/<str:site>/archive/",
    "studies/<str:identifier>/documents/archives/<int:run_id>/progress/",
    "studies/<str:identifier>/documents/archives/<int:run_id>/download/",
    # The database lock's actions: waive an item, sign, unlock, unblind the study.
    "studies/<str:identifier>/database-lock/waive/",
    "studies/<str:identifier>/database-lock/sign/",
    "studies/<str:identifier>/database-lock/unlock/",
    "studies/<str:identifier>/database-lock/unblind/",
    # A lock's archived snapshot and its hashes (no lock in this world: 404 for everyone;
    # tests/database_lock checks who downloads them).
    "studies/<str:identifier>/database-lock/<int:number>/archive/",
    "studies/<str:identifier>/database-lock/<int:number>/archive.sha256",
    # Pharmacovigilance: the line listing needs its period (400 without it; tests/safety checks
    # who downloads it); the CIOMS-I and E2B files of a version sent (none here: 404).
    "studies/<str:identifier>/safety/listing.csv",
    "studies/<str:identifier>/safety/<str:reference>/cioms-<int:number>.pdf",
    "studies/<str:identifier>/safety/<str:reference>/icsr-<int:number>.xml",
    # A report's figure (MINI's reports draw none: 404 for all; tests/reports checks them) and
    # a DSMB report run, which answers only the person who asked.
    "studies/<str:identifier>/reports/<str:cutoff>/<str:kind>/figures/<str:name>.<str:file_format>",
    "studies/<str:identifier>/dsmb-reports/<int:run_id>/progress/",
    "studies/<str:identifier>/dsmb-reports/<int:run_id>/download/",
}


def pattern_of(page: str) -> str:
    return (
        page.lstrip("/")
        .replace("MINI", "<str:identifier>")
        .replace("versions/1/", "versions/<int:number>/")
        .replace("01-001", "<str:subject>")
        .replace("forms/baseline/1/vitals/", "forms/<str:event>/<int:occurrence>/<str:form>/")
        .replace("history/weight/", "history/<str:item>/")
        .replace("queries/{query}/", "queries/<int:pk>/")
        .replace("deviations/{deviation}/", "deviations/<int:number>/")
        .replace("rechecks/{run}/", "rechecks/<int:run_id>/")
        .replace("envelopes/01.pdf", "envelopes/<str:site>.pdf")
        .replace("crf-annotated.html", "crf-<str:kind>.<str:file_format>")
        .replace("safety/{sae}/", "safety/<str:reference>/")
        .replace("reports/MATRIX/survival/", "reports/<str:cutoff>/<str:kind>/")
        .replace("reports/MATRIX/survival.pdf", "reports/<str:cutoff>/<str:kind>.pdf")
    )


def test_the_table_describes_every_page() -> None:
    patterns = {
        str(p.pattern)
        for module in (
            web_urls,
            accounts_urls,
            studies_urls,
            subjects_urls,
            messaging_urls,
            laboratory_urls,
            capture_urls,
            quality_urls,
            randomization_urls,
            interop_urls,
            database_lock_urls,
            safety_urls,
            reports_urls,
        )
        for p in module.urlpatterns
        if isinstance(p, URLPattern)
    }
    described = {pattern_of(page) for page in PAGES} | ACTIONS_AND_REDIRECTS
    assert patterns == described


def world_with_a_subject(*, production: bool = False) -> World:
    """Return the MINI world with subject 01-001 included at site A and the identity vault on."""
    w = world()
    if production:
        study_mode_change(actor=ADMIN, study=w.study, mode="production")
        w.study.refresh_from_db()
    subject_settings_set(
        actor=ADMIN, study=w.study, central_eligibility_review=False, identity_vault=True
    )
    subject_include(
        actor=ADMIN,
        study=w.study,
        site=w.site_a,
        included_on=date(2025, 6, 2),
        eligibility={"weight": 72, "packs": 0},
        consent=ConsentGiven(form_version="v1", consented_on=date(2025, 6, 2)),
    )
    return w


def world_with_data() -> tuple[World, dict[str, int | str]]:
    """Return the world with subject 01-001's vitals saved (a soft check opens a query), a
    manual query, a declared deviation and a whole-study re-check run, and their numbers."""
    w = world_with_a_subject(production=True)
    subject = Subject.objects.get(study=w.study, identifier="01-001")
    entry = person("matrix_entry", study=w.study, role=Role.DATA_ENTRY, sites=[w.site_a])
    saved = form_save(
        actor=entry,
        subject=subject,
        event="baseline",
        form="vitals",
        base_version=0,
        values={"weight": "72", "height": "170", "sbp": "80", "dbp": "90"},
    )
    monitor = person("matrix_monitor", study=w.study, role=Role.MONITOR, sites=[w.site_a])
    query = query_raise(
        actor=monitor,
        subject=subject,
        text="Please check the weight.",
        form_instance=saved.form_instance,
        item="weight",
    )
    assert Query.objects.filter(subject=subject).count() == 2  # the soft check's and this one
    deviation = deviation_declare(
        actor=monitor,
        subject=subject,
        description="Visit out of window",
        occurred_on=date(2025, 6, 3),
        deviation_class="minor",
        category="visit_window",
    )
    run = RecheckRun.objects.create(study=w.study, requested_by=monitor, forms_total=1)
    sae = sae_report_open(instance=saved.form_instance, row=0)  # as if an SAE, not yet sent
    from carnet.interop.services import cutoff_create

    cutoff_create(actor=ADMIN, study=w.study, name="MATRIX", reason="the table")
    return w, {"query": query.pk, "deviation": deviation.pk, "run": run.pk, "sae": sae.reference}


def signed_in(w: World, role: str, situation: str, n: int) -> Client:
    site_scoped = role in SITE_ROLES or role == Role.MONITOR
    sites = {"own site": [w.site_a], "other site": [w.site_b]}.get(situation, [w.site_a])
    if not site_scoped and situation == "own site":
        sites = [None]
    member = situation != "no membership"
    user = person(
        f"p{n}", study=w.study if member else None, role=role if member else None, sites=sites
    )
    if situation == "expired":
        role_revoke(
            actor=ADMIN,
            user=user,
            study=w.study,
            site=sites[0],
            role=role,
            on=utc_today() - timedelta(days=1),
        )
    client = Client()
    client.post("/login/", {"username": user.username, "password": "a long test password"})
    if client.get("/account/").status_code == 302:  # roles that must enrol a second factor first
        enrol(client)
    return client


def test_no_page_shows_what_it_should_not() -> None:
    w, numbers = world_with_data()
    failures: list[str] = []
    anonymous = Client()
    for page in PAGES:
        status = anonymous.get(page.format(**numbers)).status_code
        public = page in {"/", "/healthz", "/login/"}
        if (200 <= status < 300) != public:
            failures.append(f"anonymous {page}: {status}")
    n = 0
    for role in Role.values:
        for situation in SITUATIONS:
            n += 1
            client = signed_in(w, role, situation, n)
            for page, (_method, rule) in PAGES.items():
                status = client.get(page.format(**numbers)).status_code
                if (200 <= status < 300) != rule(role, situation):
                    failures.append(f"{role} {situation} {page}: {status}")
            for page in ACTIONS_AND_REDIRECTS:
                concrete = "/" + page.replace("<str:identifier>", "MINI").replace(
                    "<int:token_id>", "1"
                )
                concrete = concrete.replace("<str:username>", "p1").replace(
                    "<str:uidb64>/<str:token>", "x/y"
                )
                concrete = concrete.replace("<str:subject>", "01-001")
                concrete = (
                    concrete.replace("<str:event>/<int:occurrence>/<str:form>", "baseline/1/vitals")
                    .replace("<str:group>", "vs")
                    .replace("<str:item>", "weight")
                    .replace("<int:pk>/<str:action>", f"{numbers['query']}/close")
                )
                status = client.get(concrete).status_code
                if 200 <= status < 300 and page != "password/set/<str:uidb64>/<str:token>/":
                    failures.append(f"{role} {situation} GET {concrete}: {status}")
    assert failures == []


def test_only_study_managers_may_change_a_study_by_post() -> None:
    w = world()
    next_mode = {"design": "production", "production": "frozen", "frozen": "production"}
    for n, role in enumerate(Role.values):
        client = signed_in(w, role, "own site", 100 + n)
        before = w.study.mode
        # Signed as the page asks: the password, and a fresh code for those with an authenticator.
        device = TOTPDevice.objects.filter(user__username=f"p{100 + n}", confirmed=True).first()
        with time_machine.travel(utc_now().timestamp() + 90, tick=False):
            client.post(
                "/studies/MINI/mode/",
                {
                    "mode": next_mode[before],
                    "reason": "matrix test",
                    "password": PASSWORD,
                    "totp_code": current_code(device) if device else "",
                },
            )
        w.study.refresh_from_db()
        if Action.MANAGE_STUDY in GRANTS[role]:
            assert w.study.mode == next_mode[before], role
        else:
            assert w.study.mode == before, role
    # A person with no administration rights posts to an administration page: nothing is created.
    client = signed_in(w, Role.SPONSOR, "own site", 999)
    assert client.post("/administration/centres/", {"code": "HACK", "name": "x"}).status_code == 404
    from carnet.accounts.models import Centre

    assert not Centre.objects.filter(code="HACK").exists()


def test_only_site_staff_may_write_on_subjects_by_post() -> None:
    w = world_with_a_subject()
    for n, role in enumerate(Role.values):
        client = signed_in(w, role, "own site", 200 + n)
        news, lines = News.objects.count(), ScreeningEntry.objects.count()
        client.post(
            "/studies/MINI/subjects/01-001/news/",
            {"news-news_on": "2025-06-03", "news-source": "matrix test"},
        )
        client.post(
            "/studies/MINI/screening-log/",
            {
                "site": "01",
                "screened_on": "2025-06-03",
                "age": "50",
                "sex": "F",
                "reason_not_included": "matrix test",
            },
        )
        assert News.objects.count() == news + (Action.ENTER_DATA in GRANTS[role]), role
        added = ScreeningEntry.objects.count() - lines
        assert added == (Action.INCLUDE_SUBJECT in GRANTS[role]), role
