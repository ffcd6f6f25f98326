"""Every API endpoint × every role × own site / other site / expired membership / no membership.

The test fails on any 2xx that the rules do not allow, on any refusal they do not expect, and on
any site shown to someone who does not cover it. It also fails when an endpoint exists that the
table below does not describe, so every new endpoint must say who may call it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from carnet.accounts.roles import GRANTS, SITE_ROLES, Action, Role
from carnet.accounts.services import token_create
from carnet.config.api import api
from carnet.core.hashing import sha256_hex
from tests.accounts.personas import ADMIN, World, person, with_second_factor, world

pytestmark = pytest.mark.django_db

SITUATIONS = ("own site", "other site", "expired", "no membership")


def may_view_study(role: str, situation: str) -> bool:
    return situation in {"own site", "other site"} and Action.VIEW_STUDY in GRANTS[role]


def granted(action: Action, *, anywhere: bool = False) -> Callable[[str, str], bool]:
    """Return the rule "the role may do ``action`` at site A" (or at any site of the study)."""

    def rule(role: str, situation: str) -> bool:
        situations = {"own site", "other site"} if anywhere else {"own site"}
        return situation in situations and action in GRANTS[role]

    return rule


def may_view_identity(role: str, situation: str) -> bool:
    # Only the staff of the subject's own site, never a central role, even one for all sites.
    return granted(Action.VIEW_IDENTITY)(role, situation) and role in SITE_ROLES


def role_at_site_a(only: str) -> Callable[[str, str], bool]:
    """Return the rule "only this role, covering site A" (unblinding is a role's, not a right's)."""

    def rule(role: str, situation: str) -> bool:
        return role == only and situation == "own site"

    return rule


def may_view_database_lock(role: str, situation: str) -> bool:
    """The database lock's checklist and signatures: a right over every site's subjects (a
    central role for all sites), or a role that signs the lock (at any site)."""
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


def reads_pharmacy(role: str, situation: str) -> bool:
    """Pharmacists, monitors, data managers and project managers read a site's pharmacy."""
    return any(
        granted(action, anywhere=True)(role, situation)
        for action in (Action.DISPENSE, Action.MONITOR, Action.MANAGE_DATA, Action.MANAGE_STUDY)
    )


def reads_safety(*, anywhere: bool = False) -> Callable[[str, str], bool]:
    """Return the rule "reports safety or manages data at site A" (or anywhere in the study)."""

    def rule(role: str, situation: str) -> bool:
        return any(
            granted(action, anywhere=anywhere)(role, situation)
            for action in (Action.REPORT_SAFETY, Action.MANAGE_DATA)
        )

    return rule


def signs_safety_reports(role: str, situation: str) -> bool:
    """An investigator of site A: reports safety and signs data there."""
    return granted(Action.REPORT_SAFETY)(role, situation) and granted(Action.SIGN_DATA)(
        role, situation
    )


def adds_rsi(role: str, situation: str) -> bool:
    """Pharmacovigilance (whatever its sites) or whoever manages the whole study."""
    pharmacovigilance = role == Role.PHARMACOVIGILANCE and situation in {"own site", "other site"}
    return pharmacovigilance or granted(Action.MANAGE_STUDY)(role, situation)


def reads_stock(role: str, situation: str) -> bool:
    """The pharmacy's stock: whoever sees subjects, dispenses, monitors or supplies somewhere."""
    return any(
        granted(action, anywhere=True)(role, situation)
        for action in (Action.VIEW_SUBJECTS, Action.DISPENSE, Action.MONITOR, Action.MANAGE_SUPPLY)
    )


def relabels(role: str, situation: str) -> bool:
    """A pharmacist (their site's kits) or the depot's supply managers (every site)."""
    return granted(Action.DISPENSE, anywhere=True)(role, situation) or granted(
        Action.MANAGE_SUPPLY
    )(role, situation)


def sees_samples(*, anywhere: bool = False) -> Callable[[str, str], bool]:
    """Return the rule "sees subjects or manages samples at site A" (or anywhere)."""

    def rule(role: str, situation: str) -> bool:
        return any(
            granted(action, anywhere=anywhere)(role, situation)
            for action in (Action.VIEW_SUBJECTS, Action.MANAGE_SAMPLES)
        )

    return rule


def records_samples(role: str, situation: str) -> bool:
    """The site's staff who enter data, or a biobank technician, covering site A."""
    return granted(Action.ENTER_DATA)(role, situation) or granted(Action.MANAGE_SAMPLES)(
        role, situation
    )


FORM_PATH = "/api/studies/{identifier}/subjects/{subject}/forms/{event}/{occurrence}/{form}"
BIOBANK = "/api/studies/{identifier}/biobank"
STORED = BIOBANK + "/samples/{sample}"
# A query of subject 01-001 (site A), raised by a monitor of A and cancelled: every change of it
# is refused after the permission check (its state), so the calls change nothing.
QUERY = "/api/studies/{identifier}/queries/{query_id}"


def closes_others_queries(role: str, situation: str) -> bool:
    """A data manager covering site A closes, re-opens and cancels queries others raised."""
    return (
        situation == "own site"
        and Action.CLOSE_QUERY in GRANTS[role]
        and Action.MANAGE_DATA in GRANTS[role]
    )


# For each GET endpoint: may this role, in this situation, get a 2xx? (about site A's study,
# and subject 01-001 at site A). Lists answer every member, showing only the sites they cover.
ENDPOINTS: dict[str, Callable[[str, str], bool]] = {
    "/api/me": lambda role, situation: True,
    "/api/my/studies": lambda role, situation: True,
    "/api/studies/{identifier}": may_view_study,
    "/api/studies/{identifier}/sites": may_view_study,
    "/api/studies/{identifier}/subjects": granted(Action.VIEW_SUBJECTS, anywhere=True),
    "/api/studies/{identifier}/subjects/{subject}": granted(Action.VIEW_SUBJECTS),
    "/api/studies/{identifier}/subjects/{subject}/schedule": granted(Action.VIEW_SUBJECTS),
    "/api/studies/{identifier}/subjects/{subject}/identity": may_view_identity,
    "/api/studies/{identifier}/screening-log": granted(Action.VIEW_SUBJECTS, anywhere=True),
    "/api/studies/{identifier}/overdue": granted(Action.VIEW_SUBJECTS, anywhere=True),
    "/api/studies/{identifier}/follow-up-campaign": granted(Action.VIEW_SUBJECTS, anywhere=True),
    "/api/studies/{identifier}/subject-settings": may_view_study,
    "/api/studies/{identifier}/subjects/{subject}/casebook": granted(Action.VIEW_SUBJECTS),
    FORM_PATH: granted(Action.VIEW_SUBJECTS),
    FORM_PATH + "/history": granted(Action.VIEW_SUBJECTS),
    "/api/studies/{identifier}/subjects/{subject}/randomisation": granted(Action.VIEW_SUBJECTS),
    # Paper allocations against the sites' envelopes: the sites one sees, never an arm.
    "/api/studies/{identifier}/randomisation/reconciliation": granted(
        Action.VIEW_SUBJECTS, anywhere=True
    ),
    # Laboratory values: a list, showing only the sites one covers; the ranges: the study's.
    "/api/studies/{identifier}/laboratory/values": granted(Action.VIEW_SUBJECTS, anywhere=True),
    "/api/studies/{identifier}/laboratory/ranges": may_view_study,
    # The scan report of subject 01-001 (site A): visible where that subject is.
    "/api/studies/{identifier}/files/{sha256}": granted(Action.VIEW_SUBJECTS),
    # Protocol deviations: the register and the per-protocol population list the sites one covers.
    "/api/studies/{identifier}/deviations": granted(Action.VIEW_SUBJECTS, anywhere=True),
    "/api/studies/{identifier}/deviations/per-protocol": granted(
        Action.VIEW_SUBJECTS, anywhere=True
    ),
    # Queries: the list answers whoever sees subjects somewhere (only their sites' queries);
    # one query of subject 01-001 (site A) answers where that subject is.
    "/api/studies/{identifier}/queries": granted(Action.VIEW_SUBJECTS, anywhere=True),
    QUERY: granted(Action.VIEW_SUBJECTS),
    # Cut-offs and exports: whoever may export the study's data, at any of its sites.
    "/api/studies/{identifier}/cutoffs": granted(Action.EXPORT, anywhere=True),
    # The design calculator reads no study and no patient: anyone signed in, with or without a
    # role (each answers its published default example).
    "/api/design/simon": lambda role, situation: True,
    "/api/design/ahern": lambda role, situation: True,
    "/api/design/survival": lambda role, situation: True,
    "/api/design/proportions": lambda role, situation: True,
    "/api/design/sequential": lambda role, situation: True,
    # Oversight: the locks and the casebooks awaiting signature list the sites one covers; a
    # subject's signatures answer where the subject is; the audit trail holds every site's
    # events, so only a right over all the study's sites opens it.
    "/api/studies/{identifier}/locks": granted(Action.VIEW_SUBJECTS, anywhere=True),
    "/api/studies/{identifier}/signatures/awaiting": granted(Action.VIEW_SUBJECTS, anywhere=True),
    "/api/studies/{identifier}/subjects/{subject}/signatures": granted(Action.VIEW_SUBJECTS),
    "/api/studies/{identifier}/audit-trail": granted(Action.VIEW_AUDIT_TRAIL),
    # One's own exports: the list answers whoever may export (their own runs only); a run and
    # its zip answer only the person who asked (it carries their blinding): the run of the
    # table is another person's, so nobody here reads it.
    "/api/studies/{identifier}/exports": granted(Action.EXPORT, anywhere=True),
    "/api/studies/{identifier}/exports/{run_id}": lambda role, situation: False,
    "/api/studies/{identifier}/exports/{run_id}/download": lambda role, situation: False,
    # Documents for the trial master file: the CRF for every member of the study; the casebook
    # archives of the sites one may see the subjects of (a list of one's sites only).
    "/api/studies/{identifier}/crf": may_view_study,
    "/api/studies/{identifier}/casebook-archives": granted(Action.VIEW_SUBJECTS, anywhere=True),
    # A study's query options reveal no patient: every member of the study reads them.
    "/api/studies/{identifier}/queries/settings": may_view_study,
    # The study's import settings likewise (whether an import may register subjects).
    "/api/studies/{identifier}/imports/settings": may_view_study,
    # Monitoring: the plan, the SDV progress and the visits list answer whoever sees subjects
    # somewhere (their sites only); a subject's SDV and a visit at site A where they are.
    # Biobank exchange: destinations and sample requests for every member of the study (a
    # researcher asks for samples); the rest for whoever manages samples somewhere (their sites'
    # samples only). A shipment and a sample named here do not exist: unknown and forbidden
    # answer the same to everyone.
    "/api/studies/{identifier}/biobank/destinations": may_view_study,
    "/api/studies/{identifier}/biobank/requests": may_view_study,
    "/api/studies/{identifier}/biobank/agreements": granted(Action.MANAGE_SAMPLES, anywhere=True),
    "/api/studies/{identifier}/biobank/shipments": granted(Action.MANAGE_SAMPLES, anywhere=True),
    "/api/studies/{identifier}/biobank/withdrawals": granted(Action.MANAGE_SAMPLES, anywhere=True),
    "/api/studies/{identifier}/biobank/lims/samples": granted(Action.MANAGE_SAMPLES, anywhere=True),
    "/api/studies/{identifier}/biobank/shipments/{reference}": lambda role, situation: False,
    "/api/studies/{identifier}/biobank/shipments/{reference}/manifest": (
        lambda role, situation: False
    ),
    "/api/studies/{identifier}/biobank/samples/{sample}/consent": lambda role, situation: False,
    # Biobank storage: the freezers of the centres of the sites one handles samples at; the
    # freezer F-MATRIX is at ICM (site A's centre), with box B1 holding MATRIX-S1 (site A).
    BIOBANK + "/freezers": granted(Action.MANAGE_SAMPLES, anywhere=True),
    BIOBANK + "/freezers/{freezer_id}": granted(Action.MANAGE_SAMPLES),
    BIOBANK + "/freezers/{freezer_id}/samples": granted(Action.MANAGE_SAMPLES),
    BIOBANK + "/boxes/{box_id}": granted(Action.MANAGE_SAMPLES),
    BIOBANK + "/scan": granted(Action.MANAGE_SAMPLES),
    STORED + "/labels": granted(Action.MANAGE_SAMPLES),
    "/api/studies/{identifier}/monitoring/plan": granted(Action.VIEW_SUBJECTS, anywhere=True),
    "/api/studies/{identifier}/monitoring/progress": granted(Action.VIEW_SUBJECTS, anywhere=True),
    "/api/studies/{identifier}/monitoring/visits": granted(Action.VIEW_SUBJECTS, anywhere=True),
    "/api/studies/{identifier}/monitoring/visits/{visit_id}": granted(Action.VIEW_SUBJECTS),
    "/api/studies/{identifier}/subjects/{subject}/sdv": granted(Action.VIEW_SUBJECTS),
    # Pharmacy dispensing: the kits awaiting dispensing at the sites one dispenses for; the
    # accountability and the resupply list to pharmacists, monitors, data and project managers.
    "/api/studies/{identifier}/pharmacy/dispensing": granted(Action.DISPENSE, anywhere=True),
    "/api/studies/{identifier}/pharmacy/accountability": reads_pharmacy,
    "/api/studies/{identifier}/pharmacy/resupply": reads_pharmacy,
    # The database lock: whoever sees every site's subjects, or holds a role that signs it.
    "/api/studies/{identifier}/database-lock": may_view_database_lock,
    "/api/studies/{identifier}/database-lock/checklist": may_view_database_lock,
    "/api/studies/{identifier}/database-lock/unblinding": may_view_database_lock,
    # A lock's archived snapshot: no lock in this world, so nobody gets one (tests/database_lock
    # checks who may: an unblinded reader who exports or inspects the whole study).
    "/api/studies/{identifier}/database-lock/{number}/archive": lambda role, situation: False,
    # Safety: the SAE reports, the RSI and the reconciliation list the sites one reports for or
    # manages the data of; the SAE report of 01-001 (site A) answers those covering site A.
    "/api/studies/{identifier}/safety/reports": reads_safety(anywhere=True),
    "/api/studies/{identifier}/safety/reports/{reference}": reads_safety(),
    "/api/studies/{identifier}/safety/rsi": reads_safety(anywhere=True),
    "/api/studies/{identifier}/safety/reconciliation": reads_safety(anywhere=True),
    # Coding: the study's coded terms (at the sites one sees), the dictionaries, its targets.
    "/api/studies/{identifier}/coding/dictionaries": granted(Action.VIEW_SUBJECTS, anywhere=True),
    "/api/studies/{identifier}/coding/targets": granted(Action.VIEW_SUBJECTS, anywhere=True),
    "/api/studies/{identifier}/coding/terms": granted(Action.VIEW_SUBJECTS, anywhere=True),
    "/api/studies/{identifier}/coding/search": granted(Action.VIEW_SUBJECTS, anywhere=True),
    "/api/studies/{identifier}/coding/ctcae": granted(Action.VIEW_SUBJECTS, anywhere=True),
    "/api/studies/{identifier}/coding/recode": granted(Action.VIEW_SUBJECTS, anywhere=True),
    # Statistical reports of a cut-off: whoever may export the study's data (pooled when
    # blinded, at the sites they cover); a DSMB report answers only the person who asked.
    "/api/studies/{identifier}/reports/{cutoff}/analysis-dataset": granted(
        Action.EXPORT, anywhere=True
    ),
    "/api/studies/{identifier}/reports/{cutoff}/{kind}": granted(Action.EXPORT, anywhere=True),
    "/api/studies/{identifier}/dsmb-reports": granted(Action.EXPORT, anywhere=True),
    "/api/studies/{identifier}/dsmb-reports/{run_id}": lambda role, situation: False,
    "/api/studies/{identifier}/dsmb-reports/{run_id}/download": lambda role, situation: False,
    # The pharmacy: lists of the sites' stock one reads (kit contents for the unblinded only).
    "/api/studies/{identifier}/pharmacy/stock": reads_stock,
    "/api/studies/{identifier}/pharmacy/kits": reads_stock,
    "/api/studies/{identifier}/pharmacy/shipments": reads_stock,
    "/api/studies/{identifier}/pharmacy/excursions": reads_stock,
    # Biobank collection: a subject's samples answer the site's staff and the biobank
    # technicians covering site A; the missing samples whoever sees samples somewhere (their
    # sites only); no sample exists in MINI, so a sample's page refuses everyone.
    "/api/studies/{identifier}/subjects/{subject}/samples": sees_samples(),
    "/api/studies/{identifier}/samples/missing": sees_samples(anywhere=True),
    "/api/studies/{identifier}/samples/{sample}": lambda role, situation: False,
    # The centre's activity report answers everyone, counting only the studies and sites where
    # their role grants VIEW_ACTIVITY (checked below on the rows it shows).
    "/api/activity": lambda role, situation: True,
}
FORM = FORM_PATH
PDF = b"%PDF-1.4 a scan report"

FUTURE = "2099-01-01"
# For each write: may this role, in this situation, get past the permission check? The body is
# valid for its schema but refused later (a date in the future, a review not waiting…), so a
# permitted call answers 400 and nothing changes between calls; a forbidden one answers 403.
WRITES: dict[tuple[str, str], tuple[Callable[[str, str], bool], dict[str, Any], bool]] = {
    # Refused for those allowed: a name that is not one; an export from no such cut-off.
    ("post", "/api/studies/{identifier}/cutoffs"): (
        granted(Action.EXPORT, anywhere=True),
        {"name": "not a name", "reason": "DSMB"},
        True,
    ),
    ("post", "/api/studies/{identifier}/exports"): (
        granted(Action.EXPORT, anywhere=True),
        {"cutoff": "NO-SUCH-CUTOFF", "format": "csv"},
        True,
    ),
    ("post", "/api/studies/{identifier}/dsmb-reports"): (
        granted(Action.EXPORT, anywhere=True),
        {"cutoff": "NO-SUCH-CUTOFF", "session": "open"},
        True,
    ),
    # A casebook or a site's archive leaves Carnet (an audit event): whoever sees subject
    # 01-001 / the subjects of site A; refused for them in a language Carnet does not write.
    ("post", "/api/studies/{identifier}/subjects/{subject}/archival-casebook"): (
        granted(Action.VIEW_SUBJECTS),
        {"language": "xx"},
        True,
    ),
    ("post", "/api/studies/{identifier}/casebook-archives"): (
        granted(Action.VIEW_SUBJECTS),
        {"site": "01", "language": "xx"},
        True,
    ),
    ("post", "/api/studies/{identifier}/subjects"): (
        granted(Action.INCLUDE_SUBJECT),
        {
            "site": "01",
            "included_on": FUTURE,
            "consent": {"form_version": "v1", "consented_on": FUTURE},
            "eligibility": {"weight": 70},
        },
        True,
    ),
    ("post", "/api/studies/{identifier}/eligibility"): (
        granted(Action.INCLUDE_SUBJECT, anywhere=True),
        {"values": {"weight": 70}},
        True,
    ),
    ("post", "/api/studies/{identifier}/subjects/{subject}/eligibility-review"): (
        granted(Action.REVIEW_ELIGIBILITY),
        {"approved": "true", "comment": "not waiting for a review"},
        False,  # a form, as it carries a file
    ),
    ("post", "/api/studies/{identifier}/subjects/{subject}/consents"): (
        granted(Action.RECORD_CONSENT),
        {"form_version": "v2", "consented_on": FUTURE},
        True,
    ),
    ("post", "/api/studies/{identifier}/subjects/{subject}/withdrawals"): (
        granted(Action.RECORD_CONSENT),
        {"kind": "follow_up", "withdrawn_on": FUTURE},
        True,
    ),
    ("post", "/api/studies/{identifier}/subjects/{subject}/study-status"): (
        granted(Action.CHANGE_STATUS),
        {"status": "completed", "on": FUTURE},
        True,
    ),
    ("post", "/api/studies/{identifier}/subjects/{subject}/treatment-status"): (
        granted(Action.CHANGE_STATUS),
        {"status": "on_treatment", "on": FUTURE},
        True,
    ),
    ("post", "/api/studies/{identifier}/subjects/{subject}/visits"): (
        granted(Action.ENTER_DATA),
        {"event": "baseline", "visit_on": FUTURE},
        True,
    ),
    ("post", "/api/studies/{identifier}/subjects/{subject}/news"): (
        granted(Action.ENTER_DATA),
        {"news_on": FUTURE, "source": "phone"},
        True,
    ),
    ("post", "/api/studies/{identifier}/subjects/{subject}/transfer"): (
        granted(Action.TRANSFER_SUBJECT),
        {"site": "02", "on": FUTURE, "reason": "moved"},
        True,
    ),
    ("put", "/api/studies/{identifier}/subjects/{subject}/identity"): (
        may_view_identity,
        {"last_name": "refused: the study keeps no identities"},
        True,
    ),
    ("post", "/api/studies/{identifier}/screening-log"): (
        granted(Action.INCLUDE_SUBJECT),
        {"site": "01", "screened_on": FUTURE, "age": 50, "sex": "F", "reason_not_included": "x"},
        True,
    ),
    ("put", FORM): (
        granted(Action.ENTER_DATA),
        {"version": 1, "values": {"weight": "heavy"}},
        True,
    ),
    ("post", "/api/studies/{identifier}/imports"): (
        # Without a reason: refused (400), nothing imported.
        lambda role, situation: any(
            granted(action, anywhere=True)(role, situation)
            for action in (Action.ENTER_DATA, Action.MANAGE_DATA)
        ),
        {"reason": " ", "files": ("vitals.csv", b"subject,event,weight\n")},
        False,
    ),
    ("post", "/api/studies/{identifier}/odm/imports"): (
        # Without a reason: refused (400), nothing imported.
        lambda role, situation: any(
            granted(action, anywhere=True)(role, situation)
            for action in (Action.ENTER_DATA, Action.MANAGE_DATA)
        ),
        {"reason": " ", "file": ("partner.xml", b"<ODM/>")},
        False,
    ),
    ("post", "/api/odm/study-definition"): (
        # A file that is not ODM: refused (400); it writes nothing in any case. For those who
        # manage a study's definition (a membership for all its sites), as `may` says.
        granted(Action.MANAGE_STUDY),
        {"file": ("sponsor.xml", b"<ODM/>")},
        False,
    ),
    ("post", FORM + "/not-done"): (granted(Action.ENTER_DATA), {"version": 1, "reason": " "}, True),
    ("post", FORM + "/reopen"): (granted(Action.ENTER_DATA), {"version": 1, "reason": " "}, True),
    ("post", FORM + "/files/{item}"): (
        granted(Action.ENTER_DATA),
        {"version": "1", "upload": ("disguised.pdf", b"MZ an executable")},
        False,
    ),
    ("post", "/api/studies/{identifier}/subjects/{subject}/randomisation"): (
        # Factor levels that are not the casebook's: refused (409), nothing allocated.
        granted(Action.INCLUDE_SUBJECT),
        {"confirm_factors": {"no_such_factor": "1"}},
        True,
    ),
    ("post", "/api/studies/{identifier}/subjects/{subject}/randomisation/paper"): (
        # An envelope that does not exist: refused (400), nothing allocated.
        granted(Action.INCLUDE_SUBJECT),
        {
            "envelope": "E99-0001",
            "allocated_at": "2026-03-02T14:30:00+01:00",
            "allocated_by": "Dr A",
            "reason": "network down",
        },
        True,
    ),
    ("post", "/api/studies/{identifier}/randomisation/envelopes/{envelope}/opened"): (
        # An envelope that does not exist: refused (400), nothing reported.
        granted(Action.VIEW_SUBJECTS, anywhere=True),
        {"opened_at": "2026-03-02T14:30:00+01:00", "note": "seal broken"},
        True,
    ),
    ("post", "/api/studies/{identifier}/subjects/{subject}/unblinding"): (
        # Without the second confirmation: refused (400), nothing unblinded.
        role_at_site_a(Role.INVESTIGATOR),
        {"reason": "a reason", "password": "not the password", "confirmed": False},
        True,
    ),
    ("post", "/api/studies/{identifier}/subjects/{subject}/pharmacovigilance-unblinding"): (
        # Without the case's reference: refused (400), nothing revealed.
        role_at_site_a(Role.PHARMACOVIGILANCE),
        {"reason": "a reason", "case_reference": " "},
        True,
    ),
    ("post", "/api/studies/{identifier}/mode"): (
        # A study-wide, signed action: a wrong password is refused and nothing moves.
        granted(Action.MANAGE_STUDY),
        {"mode": "frozen", "reason": "cleaning", "password": "not the password"},
        True,
    ),
    ("post", "/api/studies/{identifier}/subjects/{subject}/deviations"): (
        # A deviation dated in the future: refused (400), nothing declared.
        lambda role, situation: any(
            granted(action)(role, situation)
            for action in (Action.ENTER_DATA, Action.MONITOR, Action.MANAGE_DATA)
        ),
        {
            "description": "x",
            "occurred_on": FUTURE,
            "deviation_class": "minor",
            "category": "other",
        },
        True,
    ),
    ("post", "/api/studies/{identifier}/deviations/{number}/review"): (
        # No such decision: refused (400), nothing reviewed (the deviation of 01-001).
        granted(Action.MANAGE_DATA),
        {"decision": "maybe"},
        True,
    ),
    ("put", "/api/studies/{identifier}/laboratory/ranges"): (
        # A study-wide action; a file with an unknown column is refused (400), nothing loaded.
        granted(Action.MANAGE_STUDY),
        {"file_name": "ranges.csv", "content": "colour\n"},
        True,
    ),
    ("post", "/api/studies/{identifier}/queries"): (
        # Without a question: refused (400), nothing raised.
        granted(Action.RAISE_QUERY),
        {"subject": "01-001", "text": " "},
        True,
    ),
    ("post", QUERY + "/answer"): (granted(Action.ANSWER_QUERY), {"text": "cancelled"}, True),
    ("post", QUERY + "/confirm"): (granted(Action.ANSWER_QUERY), {"text": "manual"}, True),
    ("post", QUERY + "/close"): (closes_others_queries, {"text": "cancelled"}, True),
    ("post", QUERY + "/reopen"): (closes_others_queries, {"text": "cancelled"}, True),
    ("post", QUERY + "/cancel"): (closes_others_queries, {"text": "cancelled"}, True),
    # Oversight. A form lock naming no visit: refused (400), nothing locked; an unlock without
    # a reason (the lock of a visit of 01-001 no write of the table touches); a signature of a
    # whole site, which only a form, a visit or a casebook may be: refused (400).
    ("post", "/api/studies/{identifier}/locks"): (
        granted(Action.MANAGE_DATA),
        {"scope": "form", "subject": "01-001", "reason": "cleaned"},
        True,
    ),
    ("post", "/api/studies/{identifier}/locks/{lock_id}/unlock"): (
        granted(Action.MANAGE_DATA),
        {"reason": " "},
        True,
    ),
    ("post", "/api/studies/{identifier}/subjects/{subject}/signatures"): (
        granted(Action.SIGN_DATA),
        {"scope": "site", "meaning": "x", "password": "not the password"},
        True,
    ),
    # Monitoring. A plan with no such rule (400); an item named without its form (400); a visit
    # dated in the future (400); the closed visit of a monitor of A who is not in the table:
    # only its own monitor records or closes it, so everyone is refused.
    # Biobank storage, for a technician covering site A (ICM): a freezer without a name, a rack
    # without a name, a box of no rows, MATRIX-S1 (stored) stored again in no box, moved to no
    # box, taken out without a reason, aliquoted beyond its 2 mL, derived into no type, and the
    # freezer's failure moving its samples into itself: all refused (400). Anyone else: 403.
    ("post", BIOBANK + "/freezers"): (
        granted(Action.MANAGE_SAMPLES),
        {"centre": "ICM", "name": " ", "temperature": -80},
        True,
    ),
    ("post", BIOBANK + "/freezers/{freezer_id}/racks"): (
        granted(Action.MANAGE_SAMPLES),
        {"name": " "},
        True,
    ),
    ("post", BIOBANK + "/racks/{rack_id}/boxes"): (
        granted(Action.MANAGE_SAMPLES),
        {"name": "X", "rows": 0, "columns": 9},
        True,
    ),
    ("post", STORED + "/store"): (granted(Action.MANAGE_SAMPLES), {"box": 0}, True),
    ("post", STORED + "/move"): (granted(Action.MANAGE_SAMPLES), {"box": 0}, True),
    ("post", STORED + "/take-out"): (granted(Action.MANAGE_SAMPLES), {"reason": " "}, True),
    ("post", STORED + "/aliquot"): (granted(Action.MANAGE_SAMPLES), {"volumes": ["99"]}, True),
    ("post", STORED + "/derive"): (granted(Action.MANAGE_SAMPLES), {"sample_type": " "}, True),
    ("post", BIOBANK + "/freezers/{freezer_id}/failure"): (
        granted(Action.MANAGE_SAMPLES),
        {"moved_to": "F-MATRIX", "reason": "alarm"},
        True,
    ),
    ("put", "/api/studies/{identifier}/monitoring/plan"): (
        granted(Action.MANAGE_STUDY),
        {"rule": "no such rule"},
        True,
    ),
    ("post", "/api/studies/{identifier}/subjects/{subject}/sdv"): (
        granted(Action.MONITOR),
        {"item": "weight"},
        True,
    ),
    ("post", "/api/studies/{identifier}/monitoring/visits"): (
        granted(Action.MONITOR),
        {"site": "01", "visit_date": FUTURE},
        True,
    ),
    ("put", "/api/studies/{identifier}/monitoring/visits/{visit_id}"): (
        lambda role, situation: False,
        {"findings": "x", "follow_up": "y"},
        True,
    ),
    ("post", "/api/studies/{identifier}/monitoring/visits/{visit_id}/close"): (
        lambda role, situation: False,
        {},
        True,
    ),
    # Pharmacy dispensing. MINI has no pharmacy section and no kit "NOPE": every write of a
    # pharmacist of site A is refused (400), anyone else's 403; a resupply (pharmacists and
    # project/data managers): refused (400), the study does not dispense numbered kits.
    ("post", "/api/studies/{identifier}/pharmacy/assignments"): (
        granted(Action.DISPENSE),
        {"subject": "01-001", "event": "cycle"},
        True,
    ),
    ("post", "/api/studies/{identifier}/pharmacy/dispensings"): (
        granted(Action.DISPENSE),
        {"site": "01", "kit": "NOPE", "on": "2026-01-05", "dispensed_to": "patient"},
        True,
    ),
    ("post", "/api/studies/{identifier}/pharmacy/replacements"): (
        granted(Action.DISPENSE),
        {"site": "01", "kit": "NOPE", "reason": "broken"},
        True,
    ),
    ("post", "/api/studies/{identifier}/pharmacy/returns"): (
        granted(Action.DISPENSE),
        {"site": "01", "kit": "NOPE", "on": "2026-01-05"},
        True,
    ),
    ("post", "/api/studies/{identifier}/pharmacy/destructions"): (
        granted(Action.DISPENSE),
        {"site": "01", "kits": ["NOPE"], "on": "2026-01-05", "witness": "w", "certificate": "c"},
        True,
    ),
    ("post", "/api/studies/{identifier}/pharmacy/resupply"): (
        lambda role, situation: any(
            granted(action, anywhere=True)(role, situation)
            for action in (Action.DISPENSE, Action.MANAGE_STUDY)
        ),
        {},
        True,
    ),
    # Biobank collection. A sample MINI does not expect (400) from whoever records samples at
    # site A; a step of a sample that does not exist: refused to everyone.
    ("post", "/api/studies/{identifier}/subjects/{subject}/samples"): (
        records_samples,
        {"event": "baseline", "code": "plasma", "collected_at": "2026-01-05T09:00:00+01:00"},
        True,
    ),
    ("post", "/api/studies/{identifier}/samples/{sample}/steps"): (
        lambda role, situation: False,
        {"kind": "freezing", "started_at": "2026-01-05T10:00:00+01:00"},
        True,
    ),
    # The database lock. A waiver of no such item, an unlock without a reason: refused (400)
    # for a data manager of every site; the data manager's first signature: refused (400), the
    # checklist is not clear (01-001's casebook is unsigned); anyone else: 403.
    ("post", "/api/studies/{identifier}/database-lock/waivers"): (
        granted(Action.MANAGE_DATA),
        {"item": "no_such_item", "reason": "x"},
        True,
    ),
    ("post", "/api/studies/{identifier}/database-lock/signatures"): (
        lambda role, situation: role == Role.DATA_MANAGER and situation == "own site",
        {"meaning": "x", "password": "not the password"},
        True,
    ),
    ("post", "/api/studies/{identifier}/database-lock/unlock"): (
        granted(Action.MANAGE_DATA),
        {"reason": " ", "meaning": "x", "password": "not the password"},
        True,
    ),
    # The study's unblinding: the sponsor or a data manager of every site gets past the
    # permission check and is refused (400): the database is not locked; anyone else: 403.
    ("post", "/api/studies/{identifier}/database-lock/unblinding"): (
        granted(Action.UNBLIND_STUDY),
        {"reason": "final analysis", "meaning": "x", "password": "not the password"},
        True,
    ),
    ("put", "/api/studies/{identifier}/subject-settings"): (
        # A study-wide action: a membership restricted to some sites does not allow it.
        granted(Action.MANAGE_STUDY),
        {"treatment_events": ["no_such_event"]},
        True,
    ),
    # Study-wide too; refused for those allowed: no reason given.
    ("put", "/api/studies/{identifier}/queries/settings"): (
        granted(Action.MANAGE_STUDY),
        {"reason": " ", "daily_digest": True},
        True,
    ),
    ("put", "/api/studies/{identifier}/imports/settings"): (
        granted(Action.MANAGE_STUDY),
        {"reason": " ", "creates_subjects": True},
        True,
    ),
    # Biobank exchange: each body is refused (400) for whoever may call it: a blank code, an
    # unknown destination or request, no sample named, an empty LIMS file. Sending and
    # receiving a shipment that does not exist: unknown and forbidden look the same (403).
    ("post", "/api/studies/{identifier}/biobank/destinations"): (
        granted(Action.MANAGE_SAMPLES, anywhere=True),
        {"code": " ", "name": "x", "kind": "partner"},
        True,
    ),
    ("post", "/api/studies/{identifier}/biobank/agreements"): (
        granted(Action.MANAGE_SAMPLES, anywhere=True),
        {
            "reference": "MTA-X",
            "destination": "NOPE",
            "uses": ["sharing"],
            "starts_on": "2026-01-01",
            "ends_on": "2026-12-31",
        },
        True,
    ),
    ("post", "/api/studies/{identifier}/biobank/shipments"): (
        granted(Action.MANAGE_SAMPLES, anywhere=True),
        {"destination": "NOPE", "use": "sharing", "samples": ["S-1"]},
        True,
    ),
    ("post", "/api/studies/{identifier}/biobank/shipments/{reference}/send"): (
        lambda role, situation: False,
        {},
        True,
    ),
    ("post", "/api/studies/{identifier}/biobank/shipments/{reference}/receipt"): (
        lambda role, situation: False,
        {"received": ["S-1"]},
        True,
    ),
    ("post", "/api/studies/{identifier}/biobank/requests"): (
        may_view_study,
        {
            "destination": "NOPE",
            "sample_type": "plasma",
            "quantity": 1,
            "use": "sharing",
            "purpose": "x",
        },
        True,
    ),
    ("post", "/api/studies/{identifier}/biobank/requests/{reference}/decision"): (
        granted(Action.MANAGE_SAMPLES, anywhere=True),
        {"approve": False, "reason": "x"},
        True,
    ),
    ("post", "/api/studies/{identifier}/biobank/requests/{reference}/shipment"): (
        granted(Action.MANAGE_SAMPLES, anywhere=True),
        {"samples": ["S-1"]},
        True,
    ),
    ("post", "/api/studies/{identifier}/biobank/withdrawals"): (
        granted(Action.MANAGE_SAMPLES, anywhere=True),
        {"samples": [], "action": "destroyed", "reason": "x"},
        True,
    ),
    ("post", "/api/studies/{identifier}/biobank/lims/import"): (
        granted(Action.MANAGE_SAMPLES, anywhere=True),
        {"text": "", "dry_run": True},
        True,
    ),
    # Safety: the assessment of 01-001's SAE report, not yet sent by the investigator: refused
    # (400) for pharmacovigilance covering site A; an RSI version without a name: refused (400).
    ("post", "/api/studies/{identifier}/safety/reports/{reference}/assessment"): (
        role_at_site_a(Role.PHARMACOVIGILANCE),
        {"causality": 3},
        True,
    ),
    # The investigators of site A: a follow-up while version 1 is unsent, and a signature
    # with a wrong password, are refused (400); nothing is written.
    ("post", "/api/studies/{identifier}/safety/reports/{reference}/draft"): (
        signs_safety_reports,
        {"narrative": "x", "follow_up": True},
        True,
    ),
    ("post", "/api/studies/{identifier}/safety/reports/{reference}/sign"): (
        signs_safety_reports,
        {"meaning": "x", "password": "not the password"},
        True,
    ),
    ("post", "/api/studies/{identifier}/safety/rsi"): (
        adds_rsi,
        {"version": " ", "effective_from": FUTURE, "expected_terms": []},
        True,
    ),
    # The pharmacy. MINI has no pharmacy section: the depot's writes are refused (400) for its
    # supply managers (all sites), an excursion without a description for site A's pharmacist,
    # a relabelling without a reason for any pharmacist or supply manager; no shipment and no
    # excursion exists, which answers as a forbidden one (403) to everyone.
    ("post", "/api/studies/{identifier}/pharmacy/batches"): (
        granted(Action.MANAGE_SUPPLY),
        {"product": "capecitabine", "number": "B1", "expiry": FUTURE},
        True,
    ),
    ("post", "/api/studies/{identifier}/pharmacy/kits/import"): (
        granted(Action.MANAGE_SUPPLY),
        {"content": "kit,batch,content\n", "sha256": "0" * 64},
        True,
    ),
    ("post", "/api/studies/{identifier}/pharmacy/kits/generate"): (
        granted(Action.MANAGE_SUPPLY),
        {"batch": "NO-SUCH-BATCH", "per_content": 1},
        True,
    ),
    ("post", "/api/studies/{identifier}/pharmacy/kits/relabel"): (
        relabels,
        {"expiry": FUTURE, "reason": " ", "kits": ["K001"]},
        True,
    ),
    ("post", "/api/studies/{identifier}/pharmacy/shipments"): (
        granted(Action.MANAGE_SUPPLY),
        {"site": "01", "kits": []},
        True,
    ),
    ("post", "/api/studies/{identifier}/pharmacy/shipments/{shipment}/send"): (
        lambda role, situation: False,
        {},
        True,
    ),
    ("post", "/api/studies/{identifier}/pharmacy/shipments/{shipment}/receipt"): (
        lambda role, situation: False,
        {"kit": "K001"},
        True,
    ),
    ("post", "/api/studies/{identifier}/pharmacy/shipments/{shipment}/close"): (
        lambda role, situation: False,
        {"temperature_record": "x", "temperature_ok": True},
        True,
    ),
    ("post", "/api/studies/{identifier}/pharmacy/excursions"): (
        granted(Action.DISPENSE),
        {"site": "01", "description": " ", "kits": ["K001"]},
        True,
    ),
    ("post", "/api/studies/{identifier}/pharmacy/excursions/{excursion_id}/decision"): (
        lambda role, situation: False,
        {"decision": "usable", "reason": "x"},
        True,
    ),
    # Coding. A target against a version not loaded: refused (400) for whoever manages the
    # study; a term that does not exist: 404 for a coder, 403 for anyone else; a recode of an
    # item the study does not code: refused (400) for a coder.
    ("post", "/api/studies/{identifier}/coding/targets"): (
        granted(Action.MANAGE_STUDY),
        {"form": "adverse_event", "item": "ae_term", "kind": "meddra", "version": "none"},
        True,
    ),
    ("post", "/api/studies/{identifier}/coding/terms/{term_id}/code"): (
        granted(Action.CODE_TERMS, anywhere=True),
        {"code": "10000001"},
        True,
    ),
    ("post", "/api/studies/{identifier}/coding/terms/{term_id}/query"): (
        granted(Action.CODE_TERMS, anywhere=True),
        {"text": "x"},
        True,
    ),
    # The installation's dictionaries: its administrators only, none of whom is in the table.
    ("post", "/api/coding/dictionaries"): (
        lambda role, situation: False,
        {"kind": "meddra", "version": "x"},
        False,
    ),
    ("post", "/api/studies/{identifier}/coding/recode"): (
        granted(Action.CODE_TERMS, anywhere=True),
        {"form": "no_form", "item": "x", "version": "2", "reason": "r"},
        True,
    ),
}

SUBJECT_AT_A = "01-001"
MATRIX_QUERY = "Consent date to check"


def concrete(path: str, w: World) -> str:
    path = path.replace("{identifier}", w.study.identifier).replace("{subject}", SUBJECT_AT_A)
    path = path.replace("{event}/{occurrence}/{form}", "baseline/1/lesions").replace(
        "{item}", "scan_pdf"
    )
    path = path.replace("{sha256}", sha256_hex(PDF)).replace("{envelope}", "E99-0001")
    path = path.replace("{cutoff}", "MATRIX").replace("{kind}", "survival")
    if "{number}" in path:
        from carnet.quality.deviation_models import Deviation

        path = path.replace("{number}", str(Deviation.objects.get().pk))
    if "{run_id}" in path:
        from carnet.interop.models import ExportRun

        path = path.replace("{run_id}", str(ExportRun.objects.get().pk))
    if "{query_id}" in path:
        from carnet.quality.models import Query

        path = path.replace("{query_id}", str(Query.objects.get(text=MATRIX_QUERY).pk))
    if "{lock_id}" in path:
        from carnet.oversight.models import DataLock

        path = path.replace("{lock_id}", str(DataLock.objects.get().pk))
    if "{visit_id}" in path:
        from carnet.monitoring.models import MonitoringVisit

        path = path.replace("{visit_id}", str(MonitoringVisit.objects.get().pk))
    path = path.replace("{reference}", "MINI-SAE-0001")
    path = path.replace("{shipment}", "S01-0001").replace("{excursion_id}", "1")
    if "/biobank/" in path:
        from carnet.biobank.models import Box

        box = Box.objects.select_related("rack").get(name="B1")
        path = path.replace("{freezer_id}", str(box.rack.freezer_id))
        path = path.replace("{rack_id}", str(box.rack_id)).replace("{box_id}", str(box.pk))
        path = path.replace("{sample}", "MATRIX-S1")
        if path.endswith("/biobank/scan"):
            path += "?code=MATRIX-S1"
    path = path.replace("{term_id}", "999999")  # no coded term in this world
    return path + ("?item=diameter&row=1" if path.endswith("/history") else "")


def _upload() -> Any:
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile("disguised.pdf", b"MZ an executable", content_type="application/pdf")


def _csv_upload() -> Any:
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile("vitals.csv", b"subject,event,weight\n", content_type="text/csv")


def _odm_upload() -> Any:
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile("partner.xml", b"<ODM/>", content_type="application/xml")


def subject_at_site_a(w: World) -> None:
    """Include the patient the table speaks of: 01-001, at site A."""
    from carnet.core.clock import utc_today
    from carnet.subjects.services import ConsentGiven, subject_include

    today = utc_today()
    subject = subject_include(
        actor=ADMIN,
        study=w.study,
        site=w.site_a,
        included_on=today,
        eligibility={"weight": 70, "packs": 0},
        consent=ConsentGiven(form_version="v1", consented_on=today),
    )
    assert subject.identifier == SUBJECT_AT_A
    # Data at site A: a lesion and a scan report, entered while the study is in production.
    from carnet.capture.services import file_store, form_save
    from carnet.studies.services import study_mode_change

    study_mode_change(actor=ADMIN, study=w.study, mode="production")
    w.study.refresh_from_db()
    subject.refresh_from_db()
    entry = person("entry-a", study=w.study, role=Role.DATA_ENTRY, sites=[w.site_a])
    report = next(
        i for f in w.study.current_version.parsed().forms for i in f.items() if i.name == "scan_pdf"
    )
    stored = file_store(actor=entry, subject=subject, item=report, name="scan.pdf", content=PDF)
    form_save(
        actor=entry,
        subject=subject,
        event="baseline",
        form="lesions",
        base_version=0,
        values={"scan_pdf": stored.sha256},
        rows={"target": {1: {"diameter": 20}}},
    )
    # A protocol deviation of 01-001, declared by its site, for the review endpoint.
    from carnet.quality.deviations import deviation_declare

    deviation_declare(
        actor=entry,
        subject=subject,
        description="Visit 3 days late",
        occurred_on=today,
        deviation_class="minor",
        category="visit_window",
    )
    from carnet.quality.services import query_cancel, query_raise

    raiser = person("raiser-a", study=w.study, role=Role.MONITOR, sites=[w.site_a])
    query = query_raise(actor=raiser, subject=subject, text=MATRIX_QUERY)
    query_cancel(actor=raiser, query=query, text="raised for the table")
    # A lock of a visit of 01-001 that no write of the table touches, for the unlock endpoint.
    from carnet.oversight.services import Place, data_lock

    data_lock(
        actor=ADMIN,
        study=w.study,
        place=Place(scope="visit", site=w.site_a, subject=subject, event="baseline", occurrence=9),
        reason="for the table",
    )
    # A closed monitoring visit of site A by its monitor (raiser-a), for the visit endpoints.
    from carnet.monitoring.services import monitoring_visit_close, monitoring_visit_create

    visit = monitoring_visit_create(actor=raiser, study=w.study, site=w.site_a, visit_date=today)
    monitoring_visit_close(actor=raiser, visit=visit)
    # An export another statistician asked for (queued: nobody else may read it).
    from carnet.interop.runs import ExportOptions, export_request
    from carnet.interop.services import cutoff_create

    statistician = person("stat-a", study=w.study, role=Role.STATISTICIAN)
    cutoff = cutoff_create(actor=statistician, study=w.study, name="MATRIX", reason="the table")
    export_request(actor=statistician, study=w.study, cutoff=cutoff, options=ExportOptions())
    # An SAE report of 01-001 (its lesions form, as if serious), not yet sent by the site.
    from carnet.capture.models import FormInstance
    from carnet.safety.services import sae_report_open

    sae_report_open(instance=FormInstance.objects.get(subject=subject, form="lesions"), row=0)
    # A plasma sample of 01-001 (2 mL) stored in box B1 of freezer F-MATRIX at ICM (site A).
    from decimal import Decimal

    from carnet.biobank.models import Sample
    from carnet.biobank.storage import box_create, freezer_create, rack_create, sample_store
    from carnet.core.clock import utc_now

    now = utc_now()
    sample = Sample.objects.create(
        study=w.study,
        environment=subject.environment,
        subject=subject,
        site=w.site_a,
        identifier="MATRIX-S1",
        sample_type="plasma",
        volume=Decimal(2),
        unit="mL",
        created_at=now,
        created_by="matrix",
        updated_at=now,
    )
    freezer = freezer_create(
        actor=ADMIN, study=w.study, centre=w.site_a.centre, name="F-MATRIX", temperature=-80
    )
    rack = rack_create(actor=ADMIN, study=w.study, freezer=freezer, name="R1")
    box = box_create(actor=ADMIN, study=w.study, rack=rack, name="B1", rows=9, columns=9)
    sample_store(actor=ADMIN, sample=sample, box=box, position="A1")


def persona(w: World, role: str, situation: str, n: int) -> tuple[Any, str]:
    """Return a user in a situation relative to site A, and a token for them."""
    site_scoped = role in SITE_ROLES or role == Role.MONITOR
    sites = {"own site": [w.site_a], "other site": [w.site_b]}.get(situation, [w.site_a])
    if not site_scoped and situation == "own site":
        sites = [None]  # central roles cover every site
    if not site_scoped and situation == "other site":
        sites = [w.site_b]  # a central role restricted to B, to prove the restriction holds
    user = person(
        f"u{n}",
        study=w.study if situation != "no membership" else None,
        role=role if situation != "no membership" else None,
        sites=sites,
    )
    if situation != "no membership":
        # Enrolled, as every role that needs a second factor must be before its token works.
        with_second_factor(user)
    # Tokens are made while the role is in force, then the role expires (as time passes).
    if situation == "expired":
        from datetime import timedelta

        from carnet.accounts.services import role_revoke
        from carnet.core.clock import utc_today

        _token, key = token_create(actor=ADMIN, user=user, study=w.study)
        role_revoke(
            actor=ADMIN,
            user=user,
            study=w.study,
            site=sites[0],
            role=role,
            on=utc_today() - timedelta(days=1),
        )
        return user, key
    if situation == "no membership":
        return user, ""
    _token, key = token_create(actor=ADMIN, user=user, study=w.study)
    return user, key


def test_the_table_describes_every_endpoint() -> None:
    schema_paths = api.get_openapi_schema()["paths"]
    operations = {
        (method, path.rstrip("/")) for path, methods in schema_paths.items() for method in methods
    }
    described = {("get", path) for path in ENDPOINTS} | set(WRITES)
    assert operations == described


def test_no_role_gets_what_it_may_not_and_sees_only_its_sites() -> None:
    w = world()
    subject_at_site_a(w)
    client = Client()
    failures = []
    n = 0
    for role in Role.values:
        for situation in SITUATIONS:
            n += 1
            user, key = persona(w, role, situation, n)
            if key:
                headers = {"authorization": f"Bearer {key}"}
            else:
                client.force_login(user)
                headers = {}
            for path, allowed in ENDPOINTS.items():
                response = client.get(concrete(path, w), headers=headers)
                expected = allowed(role, situation)
                ok = 200 <= response.status_code < 300
                if ok != expected:
                    failures.append(f"{role:24} {situation:14} {path}: {response.status_code}")
                    continue
                if not ok:
                    assert response["Content-Type"] == "application/problem+json"
                    continue
                if response["Content-Type"] == "application/pdf":
                    if path == STORED + "/labels":
                        # The sample's labels, drawn for the request: a PDF of its own.
                        assert response.getvalue().startswith(b"%PDF")
                    else:
                        assert response.getvalue() == PDF
                    continue
                body = response.json()
                shown_sites: set[str] = set()
                if path == "/api/studies/{identifier}/sites":
                    shown_sites = {site["code"] for site in body}
                elif path == "/api/my/studies":
                    shown_sites = {s["code"] for study in body for s in study["sites"]}
                    if situation in {"expired", "no membership"} and body:
                        failures.append(f"{role} {situation} {path}: lists {body}")
                elif path == "/api/activity":
                    shown_sites = {r["site"] for r in body["rows"]}
                    shown_sites |= {r["site"] for r in body["quality"]}
                    counts_a = granted(Action.VIEW_ACTIVITY)(role, situation)
                    if counts_a != (w.site_a.code in shown_sites):
                        failures.append(f"{role} {situation} {path}: shows {shown_sites}")
                    if shown_sites and not granted(Action.VIEW_ACTIVITY, anywhere=True)(
                        role, situation
                    ):
                        failures.append(f"{role} {situation} {path}: counts {shown_sites}")
                elif isinstance(body, list):
                    shown_sites = {row["site"] for row in body if "site" in row}
                if situation == "other site" and w.site_a.code in shown_sites:
                    failures.append(f"{role} {situation} {path}: shows site A")
            for (method, path), (rule, body, as_json) in WRITES.items():
                send = getattr(client, method)
                if path.endswith("/files/{item}"):
                    body = {"version": "1", "upload": _upload()}  # a fresh file each time
                if path.endswith("/imports"):
                    body = {"reason": " ", "files": _csv_upload()}
                if path.endswith(("/odm/imports", "/odm/study-definition")):
                    body = {"reason": " ", "file": _odm_upload()}
                if as_json:
                    response = send(
                        concrete(path, w), body, content_type="application/json", headers=headers
                    )
                else:
                    response = send(concrete(path, w), body, headers=headers)
                permitted = response.status_code not in {401, 403}
                # Only the eligibility check writes nothing and may answer 2xx; any other 2xx
                # means a body meant to be refused changed something.
                wrote = 200 <= response.status_code < 300 and not path.endswith("/eligibility")
                if permitted != rule(role, situation) or wrote:
                    failures.append(
                        f"{role:24} {situation:14} {method} {path}: {response.status_code}"
                    )
            client.logout()
    assert failures == []


def test_a_token_is_refused_for_another_study_and_when_revoked(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from carnet.accounts.services import token_revoke

    w = world()
    user = with_second_factor(person("kim", study=w.study, role=Role.DATA_MANAGER))
    token, key = token_create(actor=ADMIN, user=user, study=w.study)
    client = Client()
    other = client.get("/api/studies/OTHER", headers={"authorization": f"Bearer {key}"})
    assert other.status_code == 403
    assert other.json()["detail"] == "This token is for another study."
    token_revoke(actor=ADMIN, token=token)
    revoked = client.get("/api/me", headers={"authorization": f"Bearer {key}"})
    assert revoked.status_code == 401
    assert revoked["WWW-Authenticate"] == 'Bearer realm="carnet"'
    assert revoked.json()["title"] == "Unauthorized"


def test_an_unknown_and_a_forbidden_study_look_the_same() -> None:
    w = world()
    # A monitor signs in with a password alone (no second factor required of the role).
    user = person("lou", study=w.study, role=Role.MONITOR)
    client = Client()
    client.force_login(user)
    unknown = client.get("/api/studies/NOPE")
    assert unknown.status_code == 403
    assert unknown.json()["detail"] == "There is no study 'NOPE' you may see."


# The REDCap-compatible API (/redcap/api/, carnet.redcap): one POST endpoint outside ninja,
# whose token is the same personal token; each content answers as Carnet's own API does.
REDCAP_CONTENTS: dict[str, Callable[[str, str], bool]] = {
    "metadata": may_view_study,
    "event": may_view_study,
    "record": granted(Action.VIEW_SUBJECTS, anywhere=True),
    "user": granted(Action.VIEW_SUBJECTS, anywhere=True),
    "dag": granted(Action.VIEW_SUBJECTS, anywhere=True),
    "log": granted(Action.VIEW_AUDIT_TRAIL),
}


def test_the_redcap_api_follows_the_same_rights_and_sites() -> None:
    w = world()
    subject_at_site_a(w)
    client = Client()
    failures = []
    n = 1000
    for role in Role.values:
        for situation in SITUATIONS:
            n += 1
            _user, key = persona(w, role, situation, n)
            for content, allowed in REDCAP_CONTENTS.items():
                response = client.post(
                    "/redcap/api/", {"token": key, "content": content, "format": "json"}
                )
                body = (
                    b"".join(response.streaming_content)
                    if response.streaming
                    else (response.content)
                )
                ok = response.status_code == 200
                if ok != allowed(role, situation):
                    failures.append(f"{role:24} {situation:14} {content}: {response.status_code}")
                elif not ok:
                    assert b'"error"' in body, body
                elif (
                    content == "record"
                    and situation == "other site"
                    and SUBJECT_AT_A.encode() in body
                ):
                    failures.append(f"{role} {situation} record: shows site A's subject")
            # An import naming 01-001: refused without the right to enter or manage its data.
            response = client.post(
                "/redcap/api/",
                {
                    "token": key,
                    "content": "record",
                    "format": "json",
                    "data": '[{"record_id": "01-001", "redcap_event_name": "baseline_arm_1",'
                    ' "weight": "1000"}]',
                },
            )
            body = response.content
            if response.status_code == 200:
                failures.append(f"{role} {situation} import: wrote {body!r}")
            may_write = granted(Action.ENTER_DATA)(role, situation) or granted(Action.MANAGE_DATA)(
                role, situation
            )
            if may_write and response.status_code == 403:
                failures.append(f"{role} {situation} import: refused its right")
    assert failures == []
