"""The user guide's walks, in Chromium: each role family does what its page of docs/guide/ says,
and the screenshots the guide shows are written to docs/guide/img/ (overwritten on every run, so
they stay current). Each test asserts what the guide claims next to its picture.

One small world serves the whole module (it takes a few seconds, the full demo patients take
minutes): the two demo studies with the demo accounts, and a handful of subjects entered through
the services on a frozen day. What a test adds (a patient, an account, a token) changes nothing
another test asserts, and the data manager unfreezes the study they froze; the module empties the
database at the end, as a transactional test does. One browser context per persona.
"""

from __future__ import annotations

import base64
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.core.management import call_command
from django.db import connections, transaction
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import expect

from carnet.accounts.models import Centre, StudySite, User
from carnet.accounts.services import centre_add, role_grant, site_activate, site_add
from carnet.audit.services import SystemActor
from carnet.capture.services import form_save
from carnet.core.clock import utc_now
from carnet.demo import (
    DEMO_CENTRES,
    DEMO_ROLES_FROM,
    demo_load,
    demo_roles,
    demo_site_staff_load,
    examples_dir,
)
from carnet.studies.definition import study_file_read
from carnet.studies.models import Study, StudyMode
from carnet.studies.services import study_load, study_mode_change, study_publish
from carnet.subjects.models import Sex, Subject
from carnet.subjects.services import (
    ConsentGiven,
    screening_entry_add,
    subject_include,
    subject_settings,
    subject_settings_set,
    visit_record,
)
from tests.e2e.conftest import ARTIFACTS
from tests.web.helpers import current_code

# The marker makes the session create the test database; the tests share the module's world
# (committed, so that the server thread sees it) rather than a transaction or a flush each.
pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.xdist_group("guide"),  # one world for the module: one worker builds it
]
PASSWORD = "the demo password 2026"
# 09:00 UTC is 10:00 in Montpellier: the same day at the sites and on the server.
TODAY = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
IMAGES = Path(__file__).resolve().parents[2] / "docs" / "guide" / "img"
VIEWPORT = {"width": 1366, "height": 900}
PHASE2 = "ACC-209"
PHASE3 = "MAINTAIN-CRC"
REVEALED = 2  # the treatment revealed for MAINTAIN-CRC's 01-001 (code 2: placebo)
SYSTEM = SystemActor(label="guide world")


@dataclass
class World:
    url: str
    phase2: Study
    phase3: Study


# --- the world ----------------------------------------------------------------------------------


def _study(name: str, *, test_patient: bool) -> Study:
    """Load a demo study, publish it, give the demo accounts their roles and open it for
    production (through test mode, with one test patient, when asked)."""
    outcome = study_load(
        actor=SYSTEM, study_file=study_file_read(examples_dir() / name), source_name=name
    )
    study_publish(actor=SYSTEM, study=outcome.study)
    study = Study.objects.get(pk=outcome.study.pk)
    for number, (code, centre_name, city, activated_on) in enumerate(DEMO_CENTRES, start=1):
        centre = Centre.objects.filter(code=code).first() or centre_add(
            actor=SYSTEM, code=code, name=centre_name, city=city, time_zone="Europe/Paris"
        )
        site = site_add(actor=SYSTEM, study=study, centre=centre, code=f"{number:02d}")
        site_activate(actor=SYSTEM, site=site, on=activated_on)
    sites = list(StudySite.objects.filter(study=study).order_by("code"))
    for username, role, site_numbers in demo_roles():
        for site in [sites[n - 1] for n in site_numbers] or [None]:
            role_grant(
                actor=SYSTEM,
                user=User.objects.get(username=username),
                study=study,
                site=site,
                role=role,
                starts_on=DEMO_ROLES_FROM,
            )
    demo_site_staff_load(actor=SYSTEM, studies=[study])
    settings = subject_settings(study)
    subject_settings_set(
        actor=SYSTEM,
        study=study,
        central_eligibility_review=settings.central_eligibility_review,
        identity_vault=settings.identity_vault,
        treatment_events=["cycle"],
    )
    if test_patient:
        study = study_mode_change(actor=SYSTEM, study=study, mode=StudyMode.TEST)
        _phase2_patient(study, "01", included_on=date(2026, 6, 2), number="T-01")
    return study_mode_change(actor=SYSTEM, study=study, mode=StudyMode.PRODUCTION)


def _staff(site: str) -> User:
    return User.objects.get(
        username={"01": "dataentry", "02": "dataentry2"}.get(site, "dataentry3")
    )


def _phase2_patient(study: Study, site: str, *, included_on: date, number: str) -> Subject:
    """Include an eligible ACC-209 patient; inclusion writes the wizard's answers into the
    casebook, as it does from the page."""
    consent_on = included_on - timedelta(days=6)
    return subject_include(
        actor=_staff(site),
        study=study,
        site=StudySite.objects.get(study=study, code=site),
        included_on=included_on,
        eligibility={
            "screening.incl_histology": 1,
            "screening.incl_recurrent": 1,
            "screening.progression_date": (consent_on - timedelta(days=40)).isoformat(),
            "screening.bl_tl_diam": [24, 17],
            "screening.ecog_ps": 0,
            "screening.incl_organ_function": 1,
            "screening.incl_social_security": 1,
            "screening.excl_prior_inhibitor": 0,
            "screening.excl_brain_mets": 0,
            "screening.excl_qtc": 0,
            "screening.excl_pregnancy": 0,
            "screening.excl_legal_protection": 0,
        },
        consent=ConsentGiven(form_version="v1.1 2025-01-20", consented_on=consent_on, biobank=True),
        sex=Sex.FEMALE,
        age=58,
        screening_number=number,
    )


def _cycle(subject: Subject, number: int, on: date, *, returned: int = 6) -> None:
    actor = _staff(subject.site.code)
    visit_record(actor=actor, subject=subject, event="cycle", visit_on=on, occurrence=number)
    form_save(
        actor=actor,
        subject=subject,
        event="cycle",
        occurrence=number,
        form="treatment",
        base_version=None,
        values={
            "cycle_start": on.isoformat(),
            "dose_level": 1,
            "dose_reduced": 0,
            "interrupted": 0,
            "tablets_dispensed": 63,
            "tablets_returned": returned,
        },
        complete=True,
    )


def _phase2_world(study: Study) -> None:
    """Three patients at three sites, one screening-log line per site of the monitor."""
    first = _phase2_patient(study, "01", included_on=date(2026, 9, 28), number="AC101")
    # Cycle 3 (due 9 November, window closed on the 12th) and the first tumour assessment
    # (due 9 November, closed on the 16th) are overdue on the frozen day.
    _cycle(first, 1, date(2026, 9, 28))
    form_save(
        actor=_staff("01"),
        subject=first,
        event="cycle",
        form="treatment",
        base_version=1,
        values={"tablets_returned": 5},
        reason="Transcription error corrected from the source document",
    )
    _cycle(first, 2, date(2026, 10, 19), returned=30)  # compliance under 80%: an open check
    second = _phase2_patient(study, "02", included_on=date(2026, 10, 5), number="AC201")
    _cycle(second, 1, date(2026, 10, 5))
    _phase2_patient(study, "03", included_on=date(2026, 10, 12), number="AC301")
    for site, reason in (("01", "ECOG 3"), ("02", "No progression in the last 6 months")):
        screening_entry_add(
            actor=_staff(site),
            study=study,
            site=StudySite.objects.get(study=study, code=site),
            screened_on=date(2026, 10, 20),
            age=71,
            sex=Sex.MALE,
            reason_not_included=reason,
        )


def _phase3_world(study: Study) -> None:
    """One MAINTAIN-CRC patient: a first cycle with its kit number (which the site sees), then
    an end of study recording the treatment revealed by an emergency unblinding (arm-revealing)."""
    actor = _staff("01")
    subject = subject_include(
        actor=actor,
        study=study,
        site=StudySite.objects.get(study=study, code="01"),
        included_on=date(2026, 10, 1),
        eligibility={
            "screening.incl_histology": 1,
            "screening.incl_metastatic": 1,
            "screening.induction_start": "2026-04-06",
            "screening.induction_end": "2026-09-07",
            "screening.induction_resp": 2,
            "baseline.ecog_ps": 0,
            "baseline.neutrophils": 3.9,
            "baseline.platelets": 240,
            "baseline.haemoglobin": 12.8,
            "baseline.creat_clearance": 92,
            "baseline.bilirubin": 8.0,
            "baseline.bili_uln": 21.0,
            "baseline.alt": 24,
            "baseline.alt_uln": 45,
            "baseline.ast": 26,
            "baseline.ast_uln": 35,
            "screening.met_sites": [1, 2],
            "screening.incl_social_security": 1,
            "screening.msi_status": 1,
            "screening.excl_brain_mets": 0,
            "screening.excl_other_cancer": 0,
            "baseline.sbp": 128,
            "baseline.dbp": 79,
            "screening.excl_hypertension": 0,
            "baseline.proteinuria": 0,
            "screening.excl_bleeding": 0,
            "screening.excl_pregnancy": 0,
            "screening.excl_other_trial": 0,
            "screening.excl_legal_protection": 0,
        },
        consent=ConsentGiven(form_version="v2.0 2024-11-04", consented_on=date(2026, 9, 22)),
        sex=Sex.MALE,
        age=64,
        screening_number="MC0001",
    )
    visit_record(
        actor=actor, subject=subject, event="cycle", visit_on=date(2026, 10, 3), occurrence=1
    )
    form_save(
        actor=actor,
        subject=subject,
        event="cycle",
        form="treatment",
        base_version=None,
        values={
            "adm_given": 1,
            "adm_date": "2026-10-03",
            "kit_number": "417203",
            "dose_level": 1,
            "adm_dose": 600,
            "cycle_delayed": 0,
            "dose_reduced": 0,
        },
        complete=True,
    )
    visit_record(actor=actor, subject=subject, event="end_of_study", visit_on=date(2026, 10, 20))
    form_save(
        actor=actor,
        subject=subject,
        event="end_of_study",
        form="end_of_study",
        base_version=None,
        values={
            "eos_date": "2026-10-20",
            "eos_reason": 5,
            "unblinded": 1,
            "unblind_date": "2026-10-15",
            "unblind_reason": "Anaphylaxis: the treating team needed the treatment",
            "unblind_arm": REVEALED,
        },
        complete=True,
    )


def _second_factor(username: str) -> None:
    """Enrol an authenticator for a person whose role requires one (as they would at their first
    sign-in); the tests read its codes."""
    TOTPDevice.objects.create(user=User.objects.get(username=username), name="App", confirmed=True)


@pytest.fixture(autouse=True)
def _django_db_marker() -> None:
    """Replace pytest-django's fixture of the same name, which would wrap each test in its own
    transaction (or flush the database after it): here the world belongs to the module."""


@pytest.fixture(scope="module")
def guide(django_db_setup: Any, django_db_blocker: Any) -> Iterator[World]:
    """Build the world once, serve it, and empty the database when the module is done."""
    from pytest_django.live_server_helper import LiveServer

    with django_db_blocker.unblock(), time_machine.travel(TODAY, tick=True):
        try:
            # One transaction: a few hundred audited writes, committed once.
            with transaction.atomic():
                demo_load(actor=SYSTEM, password=PASSWORD)
                phase2 = _study("simon-phase2.yaml", test_patient=True)
                _phase2_world(phase2)
                phase3 = _study("maintain-crc.yaml", test_patient=False)
                _phase3_world(phase3)
                for username in ("datamanager", "unblinded"):
                    _second_factor(username)
            server = LiveServer("localhost")
            server._live_server_modified_settings.enable()
            try:
                yield World(server.url, phase2, phase3)
            finally:
                server._live_server_modified_settings.disable()
                server.stop()
        finally:
            for alias in connections:
                call_command("flush", verbosity=0, interactive=False, database=alias)


@pytest.fixture
def persona(browser: Any, guide: World, request: pytest.FixtureRequest) -> Iterator[Any]:
    """Return a function opening a signed-in page for a demo account, one browser context each;
    a failed test leaves a screenshot of every page it opened in test-artifacts/."""
    pages: list[tuple[str, Any]] = []

    def open_as(username: str, *, code: bool = False, signed_in: bool = True) -> Any:
        context = browser.new_context(locale="en-GB", base_url=guide.url, viewport=VIEWPORT)
        page = context.new_page()
        page.set_default_timeout(15_000)
        pages.append((username, page))
        page.goto("/login/")
        if signed_in:
            sign_in(page, username, code=code)
        return page

    yield open_as
    report = getattr(request.node, "report_call", None)
    for username, page in pages:
        if report is not None and report.failed:
            ARTIFACTS.mkdir(exist_ok=True)
            name = f"{request.node.name}-{username}.png"
            page.screenshot(path=str(ARTIFACTS / name), full_page=True)
        page.context.close()


def shot(target: Any, name: str, **options: Any) -> None:
    """Write a screenshot the guide shows (a page's viewport, or one element)."""
    IMAGES.mkdir(parents=True, exist_ok=True)
    target.screenshot(path=str(IMAGES / name), animations="disabled", **options)


def sign_in(page: Any, username: str, *, code: bool = False) -> None:
    """Sign in from the sign-in page; with ``code``, give the authenticator's code next."""
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    if code:
        page.wait_for_url("**/login/verify/")
        device = TOTPDevice.objects.get(user__username=username)
        page.get_by_label("Code").fill(current_code(device))
        page.get_by_role("button", name="Continue").click()
    # Signed in once the sign-in pages are left (a page opened sooner would cut the sign-in short).
    page.wait_for_url(lambda url: "/login/" not in url)


def code_for(secret: str) -> str:
    """Return the code an authenticator app shows now for a secret typed from the page."""
    return f"{totp(base64.b32decode(secret)):06d}"


def later_code(username: str, seconds: int) -> str:
    """Return the authenticator's code ``seconds`` from now (each code is accepted once)."""
    with time_machine.travel(utc_now() + timedelta(seconds=seconds), tick=False):
        return current_code(TOTPDevice.objects.get(user__username=username))


def messages(page: Any) -> Any:
    return page.locator(".messages")


# --- site staff (docs/guide/site-staff.md) -------------------------------------------------------


def test_site_staff_screen_include_and_enter_data(persona: Any, guide: World) -> None:
    page = persona("dataentry", signed_in=False)
    shot(page, "sign-in.png")
    sign_in(page, "dataentry")

    # Home: the studies one works on, with one's roles and sites.
    expect(page.get_by_role("heading", name="My studies")).to_be_visible()
    studies = page.locator("main table tbody tr")
    expect(studies).to_have_count(2)
    expect(studies.filter(has_text=PHASE2)).to_contain_text("01 ICM")
    shot(page, "home.png")

    # The screening log: a patient assessed and not included.
    page.get_by_role("link", name=PHASE2, exact=True).click()
    page.get_by_role("navigation", name="Subjects").get_by_role(
        "link", name="Screening log"
    ).click()
    log = page.locator("#screening-form")
    log.get_by_label("Site").select_option("01")
    log.get_by_label("Screening date").fill("2026-11-18")
    log.get_by_label("Age (years)").fill("81")
    log.get_by_label("Sex").select_option("F")
    log.get_by_label("Reason not included").fill("QTcF 492 ms")
    log.get_by_role("button", name="Add to the screening log").click()
    expect(messages(page)).to_contain_text("The line is added to the screening log.")
    expect(page.locator("#screening-log")).to_contain_text("QTcF 492 ms")
    shot(page, "screening-log.png")

    # Registering a patient: check eligibility (records nothing), then include.
    page.get_by_role("link", name="Subjects", exact=True).first.click()
    page.get_by_role("link", name="Register a patient").click()
    wizard = page.locator("#inclusion-form")
    wizard.get_by_label("Site").select_option("01")
    wizard.get_by_label("Inclusion date").fill("2026-11-20")
    wizard.get_by_label("Screening number").fill("AC102")
    wizard.get_by_label("Sex").select_option("M")
    wizard.get_by_label("Age (years)").fill("49")
    wizard.get_by_label("Consent form version").fill("v1.1 2025-01-20")
    wizard.get_by_label("Consent date").fill("2026-11-16")
    wizard.get_by_label("Biobank consent").check()
    answers = {
        "Adenoid cystic carcinoma confirmed": "1",
        "Recurrent or metastatic disease": "1",
        "ECOG performance status": "1",
        "Adequate haematological": "1",
        "Affiliated to a French social security": "1",
        "Prior treatment with an inhibitor": "0",
        "Symptomatic or untreated brain": "0",
        "QTcF over 470 ms": "0",
        "Pregnancy or breast-feeding": "0",
        "Adult under legal protection": "0",
    }
    for label, code in answers.items():
        wizard.get_by_label(label).select_option(code)
    wizard.get_by_label("Date of the imaging documenting progression").fill("2026-10-02")
    wizard.get_by_label("Diameter").fill("21")
    wizard.get_by_role("button", name="Check eligibility").click()
    result = page.locator("#eligibility-result")
    expect(result).to_contain_text("Every criterion is met: the patient is eligible.")
    expect(result.locator("tr.criterion-failed")).to_have_count(0)
    expect(result.locator("td.outcome-met")).to_have_count(8)
    expect(result.locator("td.outcome-absent")).to_have_count(5)
    shot(page.locator("#inclusion-form fieldset").nth(2), "registration.png")
    wizard.get_by_role("button", name="Include the patient").click()
    page.wait_for_url(f"**/studies/{PHASE2}/subjects/01-002/")
    expect(messages(page)).to_contain_text("01-002 is included.")
    header = page.locator("#subject-header")
    expect(header.locator("#study-status")).to_contain_text("included")
    expect(page.locator("#schedule")).to_contain_text("Treatment cycle 1")
    shot(page, "subject.png")

    # The first cycle took place on the inclusion day: its date goes on the subject page.
    visit = page.locator("#visit-form")
    visit.get_by_label("Event").select_option("cycle")
    visit.get_by_label("Visit date").fill("2026-11-20")
    visit.get_by_role("button", name="Record the visit").click()
    expect(messages(page)).to_contain_text("The visit date is recorded.")

    # The casebook: what the inclusion wrote is already in the screening forms.
    page.get_by_role("link", name="Casebook", exact=True).first.click()
    grid = page.locator("#casebook")
    expect(grid).to_contain_text("Treatment cycle")
    demographics = grid.locator("tr", has_text="Demographics")
    expect(demographics.locator("td.status-in_progress")).to_have_count(1)
    shot(page, "casebook-new-patient.png")

    # A form: typed, checked as one types, completed and saved.
    page.goto(f"/studies/{PHASE2}/subjects/01-002/forms/cycle/1/treatment/")
    page.locator("#f-cycle_start").fill("2026-11-20")
    page.locator("#f-dose_level").select_option("1")
    page.locator("#f-tablets_dispensed").fill("63")
    page.locator("#f-tablets_returned").fill("70")
    page.locator("#f-tablets_returned").press("Tab")
    refusal = page.locator("#msg-tablets_returned .error")
    expect(refusal).to_have_text("More tablets returned than dispensed.")
    shot(page, "form-check.png")
    page.locator("#f-tablets_returned").fill("3")
    page.locator("#f-tablets_returned").press("Tab")
    page.get_by_label("The form is complete").check()
    page.get_by_role("button", name="Save the form").click()
    expect(messages(page)).to_contain_text("The form is saved.")
    expect(page.locator("#form-status")).to_have_text("complete")
    shot(page, "form.png")

    # A change to a complete form needs a reason; the item's history keeps old, new and why.
    page.locator("#f-tablets_returned").fill("4")
    page.locator("#f-tablets_returned").press("Tab")
    page.get_by_role("button", name="Save the form").click()
    expect(page.locator("#msg-reason")).to_contain_text("say why you change it")
    page.get_by_label("Reason for the change (the form is complete)").fill(
        "Tablet count corrected from the patient's diary"
    )
    page.get_by_role("button", name="Save the form").click()
    expect(messages(page)).to_contain_text("The form is saved.")
    item = page.locator("#item-tablets_returned")
    # The history loads when the summary opens (htmx): its handlers must be in place first.
    page.wait_for_load_state("networkidle")
    item.locator("summary", has_text="History").click()
    history = item.locator(".capture-history-table")
    expect(history).to_contain_text("Tablet count corrected from the patient's diary")
    expect(history.locator("tbody tr").first).to_contain_text("Julie Bernard (TEC)")
    shot(item, "history.png")

    # Someone else saves the same form meanwhile: nothing is overwritten, nothing typed is lost.
    subject = Subject.objects.get(study=guide.phase2, identifier="01-002")
    version = int(page.locator("input[name=version]").first.input_value())
    form_save(
        actor=User.objects.get(username="investigator"),
        subject=subject,
        event="cycle",
        form="treatment",
        base_version=version,
        values={"tablets_dispensed": 60},
        reason="Pharmacy record: 60 tablets dispensed",
    )
    page.locator("#f-interrupted").select_option("0")
    page.get_by_label("Reason for the change (the form is complete)").fill(
        "No interruption, from the patient's diary"
    )
    page.get_by_role("button", name="Save the form").click()
    conflict = page.locator("#conflict")
    expect(conflict).to_contain_text("Tablets dispensed: 60 — Dr Claire Martin")
    expect(page.locator("#f-interrupted")).to_have_value("0")
    expect(page.locator("#f-tablets_dispensed")).to_have_value("60")
    shot(page, "conflict.png")
    page.get_by_role("button", name="Save the form").click()
    expect(messages(page)).to_contain_text("The form is saved.")
    expect(page.locator("#f-interrupted")).to_have_value("0")

    # An examination that was not done: the form says why, and can be reopened.
    page.goto(f"/studies/{PHASE2}/subjects/01-001/forms/tumour_assessment/1/tumour_assessment/")
    page.locator("#not-done summary").click()
    page.get_by_label("Why the form is not done").fill("Patient refused the scan")
    page.get_by_role("button", name="Mark the form not done").click()
    expect(messages(page)).to_contain_text("The form is marked not done.")
    expect(page.locator("#form-status")).to_have_text("not done")
    expect(page.locator("#read-only")).to_contain_text("reopen it to enter data")
    expect(
        page.locator("#capture-form :is(input, select):not([type=hidden]):enabled")
    ).to_have_count(0)
    expect(page.get_by_role("button", name="Save the form")).to_have_count(0)
    shot(page, "not-done.png")
    page.get_by_label("Why the form is reopened").fill("The patient agreed to the scan after all")
    page.get_by_role("button", name="Reopen").click()
    expect(messages(page)).to_contain_text("The form is reopened.")
    expect(page.locator("#form-status")).to_have_text("not started")


# --- monitor (docs/guide/monitor.md) -------------------------------------------------------------


def test_monitor_reads_the_sites_they_monitor(persona: Any) -> None:
    page = persona("monitor")
    studies = page.locator("main table tbody tr")
    expect(studies.filter(has_text=PHASE2)).to_contain_text("01 ICM, 02 IPC")

    # The subject list: the patients of sites 01 and 02, never those of site 03.
    page.goto(f"/studies/{PHASE2}/subjects/")
    subjects = page.locator("#subjects")
    expect(subjects).to_contain_text("01-001")
    expect(subjects).to_contain_text("02-001")
    expect(subjects).not_to_contain_text("03-001")
    expect(subjects.locator("tbody tr", has_text="01-001")).to_contain_text("2 overdue visits")
    shot(page, "subject-list.png")
    filters = page.locator("#subject-filters")
    filters.get_by_label("Site").select_option("02")
    filters.get_by_role("button", name="Filter").click()
    expect(subjects.locator("tbody tr")).to_have_count(1)
    expect(subjects).to_contain_text("02-001")

    # A form, read-only for a monitor, with the open check and each value's history.
    page.goto(f"/studies/{PHASE2}/subjects/01-001/casebook/")
    cycles = page.locator("#casebook tbody tr").filter(
        has=page.get_by_role("rowheader", name="Treatment cycle", exact=True)
    )
    expect(cycles.locator(".open-checks")).to_have_text("1 check")
    cycles.locator("td.status-complete a").nth(1).click()
    expect(page.locator("#read-only")).to_have_text(
        "You may read this form; you may not change it."
    )
    expect(page.get_by_role("button", name="Save the form")).to_have_count(0)
    returned = page.locator("#item-tablets_returned")
    expect(returned.locator(".check")).to_contain_text("Compliance outside 80-110%")
    # The history loads when the summary opens (htmx): its handlers must be in place first.
    page.wait_for_load_state("networkidle")
    returned.locator("summary", has_text="History").click()
    expect(returned.locator(".capture-history-table")).to_contain_text("Julie Bernard (TEC)")
    shot(page, "monitor-form.png")

    # The overdue visits of their sites, by site, the longest overdue first.
    page.goto(f"/studies/{PHASE2}/overdue/")
    expect(page.locator("main")).to_contain_text("Site 02 — Institut Paoli-Calmettes")
    expect(page.locator("main")).not_to_contain_text("Centre Léon Bérard")

    # A token for a program, shown once.
    page.get_by_role("link", name="My account").click()
    page.get_by_label("Label").fill("R scripts")
    page.get_by_role("button", name="Create a token").click()
    expect(page.locator("#new-token")).to_have_text(re.compile(r"^[0-9A-F]{32}$"))


# --- data manager (docs/guide/data-manager.md) ---------------------------------------------------


def test_data_manager_lists_freezes_with_a_signature_and_reads_the_trail(
    persona: Any, guide: World
) -> None:
    page = persona("datamanager", signed_in=False)
    page.get_by_label("User name").fill("datamanager")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/login/verify/")
    shot(page, "second-step.png")
    device = TOTPDevice.objects.get(user__username="datamanager")
    page.get_by_label("Code").fill(current_code(device))
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", name="My studies")).to_be_visible()

    # Overdue visits at every site, by site, the longest overdue first.
    page.goto(f"/studies/{PHASE2}/overdue/")
    main = page.locator("main")
    for site in ("Site 01 — Institut du Cancer de Montpellier", "Site 03 — Centre Léon Bérard"):
        expect(main).to_contain_text(site)
    # The longest overdue visit comes first (and its site's table with it).
    longest = page.locator("table.overdue").first.locator("tbody tr").first
    expect(longest.locator("td")).to_have_text(
        ["03-001", "Treatment cycle 1", "2026-10-12", "2026-10-10 – 2026-10-15", "38"]
    )
    shot(page, "overdue.png")

    # The follow-up campaign: subjects without news for more than a month.
    page.get_by_role("link", name="Follow-up campaign").click()
    page.get_by_label("Without news for more than (months)").fill("1")
    page.get_by_role("button", name="Show").click()
    campaign = page.locator("main")
    expect(campaign).to_contain_text("Last news before 2026-10-22.")
    for subject in ("02-001", "03-001"):
        expect(campaign.locator("table.campaign")).to_contain_text([subject])

    # The test view: the patients included while the study was in test mode, read-only.
    page.goto(f"/studies/{PHASE2}/")
    page.get_by_role("button", name="Open the test view (test patients, read-only)").click()
    expect(page.locator(".test-banner")).to_contain_text("Test view of ACC-209")
    expect(page.locator("#subjects tbody tr")).to_have_count(1)
    expect(page.locator("#subjects")).to_contain_text("01-001")
    shot(page, "test-view.png")
    page.get_by_role("button", name="Back to production").click()
    expect(page.locator(".test-banner")).to_have_count(0)

    # Freezing: a reason and the e-signature (password and authenticator code).
    page.goto(f"/studies/{PHASE2}/")
    mode = page.locator("#mode-form")
    mode.get_by_label("Move to").select_option("frozen")
    mode.get_by_label("Reason").fill("Data cut-off for the stage 1 analysis")
    mode.get_by_label("Your password (e-signature)").fill(PASSWORD)
    page.locator("#manage-title").click()  # no field focused in the picture
    shot(page.locator("section.panel", has=mode), "freeze.png")
    mode.get_by_label("Authenticator code").fill(later_code("datamanager", 30))
    with time_machine.travel(utc_now() + timedelta(seconds=30), tick=True):
        mode.get_by_role("button", name="Sign and change the mode").click()
        expect(messages(page)).to_contain_text("The study is now in frozen mode.")

        # Site staff now find every form read-only, with the reason.
        site = persona("dataentry")
        site.goto(f"/studies/{PHASE2}/subjects/01-001/forms/cycle/3/treatment/")
        expect(site.locator("#read-only")).to_have_text(
            "ACC-209 is frozen: its data cannot change."
        )
        expect(site.get_by_role("button", name="Save the form")).to_have_count(0)
        shot(site, "frozen-form.png")

        # Back to production, signed again with the next code.
        mode = page.locator("#mode-form")
        mode.get_by_label("Move to").select_option("production")
        mode.get_by_label("Reason").fill("Stage 1 analysis done: data entry resumes")
        mode.get_by_label("Your password (e-signature)").fill(PASSWORD)
        mode.get_by_label("Authenticator code").fill(later_code("datamanager", 30))
    with time_machine.travel(utc_now() + timedelta(seconds=60), tick=True):
        mode.get_by_role("button", name="Sign and change the mode").click()
        expect(messages(page)).to_contain_text("The study is now in production mode.")

    # A subject's page offers the transfer to another site.
    page.goto(f"/studies/{PHASE2}/subjects/02-001/")
    expect(page.locator("#transfer-form")).to_contain_text("Transfer to another site")

    # The audit trail: each value's history, and the chains verified from the command line.
    page.goto(
        f"/studies/{PHASE2}/subjects/01-001/forms/cycle/1/treatment/history/tablets_returned/?row=0"
    )
    expect(page.locator("main table")).to_contain_text(
        "Transcription error corrected from the source document"
    )
    out = io.StringIO()
    call_command("audit", "verify", stdout=out)
    assert "audit chains are intact" in out.getvalue()
    out = io.StringIO()
    call_command("audit", "log", "--study", PHASE2, "--limit", "4", stdout=out)
    assert "Stage 1 analysis done: data entry resumes" in out.getvalue()


# --- statistician (docs/guide/statistician.md) ---------------------------------------------------

KIT = "417203"  # the kit number of MAINTAIN-CRC's patient 01-001, cycle 1: the site sees it


def test_a_blinded_statistician_reads_blinded_and_an_unblinded_one_the_value(
    persona: Any,
) -> None:
    form = f"/studies/{PHASE3}/subjects/01-001/forms/end_of_study/1/end_of_study/"
    blinded = persona("statistician")
    home = blinded.locator("main table tbody tr", has_text=PHASE3)
    expect(home).to_contain_text("Statistician (blinded)")
    blinded.goto(form)
    expect(blinded.locator("#read-only")).to_have_text(
        "You may read this form; you may not change it."
    )
    revealed = blinded.locator("#item-unblind_arm")
    expect(revealed.locator(".concealed")).to_have_text("(blinded)")
    # The history loads when the summary opens (htmx): its handlers must be in place first.
    blinded.wait_for_load_state("networkidle")
    revealed.locator("summary", has_text="History").click()
    expect(revealed.locator(".capture-history-table")).to_contain_text("(blinded)")
    expect(revealed).not_to_contain_text("Placebo")
    shot(revealed, "blinded.png")
    # The API answers the same, from the same session.
    answer = blinded.request.get(f"/api{form.removesuffix('/')}")
    assert answer.ok, answer.text()
    assert '"unblind_arm"' in answer.text()
    assert "(blinded)" in answer.text()
    # The kit number alone does not reveal the arm: the blinded statistician reads it.
    blinded.goto(f"/studies/{PHASE3}/subjects/01-001/forms/cycle/1/treatment/")
    expect(blinded.locator("#f-kit_number")).to_have_value(KIT)

    unblinded = persona("unblinded", code=True)
    unblinded.goto(form)
    expect(unblinded.locator("#f-unblind_arm")).to_have_value(str(REVEALED))


# --- administrator (docs/guide/administrator.md) -------------------------------------------------


def test_an_administrator_sets_up_the_second_factor_an_account_and_a_role(persona: Any) -> None:
    page = persona("admin")
    # The first sign-in asks for an authenticator app before anything else.
    page.wait_for_url("**/account/two-factor/")
    expect(page.locator(".alert")).to_have_text(
        "Your role requires a second factor: set it up to continue."
    )
    shot(page, "two-factor.png", mask=[page.locator(".qr"), page.locator("#totp-secret")])
    secret = page.locator("#totp-secret").inner_text().strip()
    page.get_by_label("Enter the code the app shows").fill(code_for(secret))
    page.get_by_role("button", name="Confirm").click()
    expect(page.locator("#recovery-codes li")).to_have_count(10)
    page.get_by_role("link", name="Continue").click()

    # Administration: centres, studies with their sites and delegation logs, accounts, tokens.
    page.get_by_role("link", name="Administration").click()
    cards = page.locator("ul.cards")
    expect(cards).to_contain_text("Centres (3)")
    shot(page, "administration.png")

    # A new account, without a password: the person chooses it from a link (3 days, once).
    page.get_by_role("link", name="Accounts", exact=True).click()
    form = page.locator("#user-form")
    form.get_by_label("User name").fill("mdurand")
    form.get_by_label("Name", exact=True).fill("Marie Durand")
    form.get_by_label("E-mail").fill("m.durand@example.org")
    form.get_by_role("button", name="Create").click()
    expect(messages(page)).to_contain_text("Account mdurand created.")
    expect(page.locator("#password-link")).to_contain_text("/password/set/")
    shot(page, "accounts.png", mask=[page.locator("#password-link")])

    # Her role, at one site, from today: a line of the study's delegation log.
    page.goto("/administration/studies/")
    page.locator("tr", has_text=PHASE2).get_by_role("link", name="Delegation log").click()
    grant = page.locator("#grant-form")
    grant.get_by_label("Person").select_option("mdurand")
    grant.get_by_label("Role").select_option("data_entry")
    grant.get_by_label("Site").select_option("02")
    shot(grant, "give-a-role.png")
    grant.get_by_role("button", name="Give the role").click()
    expect(messages(page)).to_contain_text("mdurand is now Site data entry")
    log = page.locator("#delegation-log")
    expect(log.locator("tr", has_text="mdurand")).to_contain_text("02 IPC")

    page.goto("/administration/lockouts/")
    expect(page.locator("#lockouts")).to_contain_text("No account is locked.")
