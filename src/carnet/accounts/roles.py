"""The roles a person can hold on a study, and what each one may do.

This is the one place that says who may do what. Code asks `permissions.may(…)`, never which
role someone has; a blinded role is the property `is_unblinded`, not a list checked here and there.
"""

from __future__ import annotations

from enum import StrEnum

from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    INVESTIGATOR = "investigator", _("Investigator")
    DATA_ENTRY = "data_entry", _("Site data entry (TEC / ARC investigateur)")
    PHARMACIST = "pharmacist", _("Pharmacist")
    MONITOR = "monitor", _("Monitor (ARC moniteur)")
    DATA_MANAGER = "data_manager", _("Data manager")
    PROJECT_MANAGER = "project_manager", _("Project manager")
    MEDICAL_REVIEWER = "medical_reviewer", _("Medical reviewer")
    CODER = "coder", _("Coder")
    STATISTICIAN = "statistician", _("Statistician (blinded)")
    UNBLINDED_STATISTICIAN = "unblinded_statistician", _("Statistician (unblinded)")
    DSMB_STATISTICIAN = "dsmb_statistician", _("DSMB statistician")
    PHARMACOVIGILANCE = "pharmacovigilance", _("Pharmacovigilance officer")
    BIOBANK_TECHNICIAN = "biobank_technician", _("Biobank technician")
    SPONSOR = "sponsor", _("Sponsor (read-only)")
    ADMINISTRATOR = "administrator", _("Administrator")
    # A health authority's inspector (ANSM, FDA): reads a study and its audit trail, changes
    # nothing; the membership's dates are the period of the inspection.
    INSPECTOR = "inspector", _("Inspector (read-only)")
    # The investigator who coordinates the study's sites (EU CTR art. 2; "investigateur
    # coordonnateur"), usually also an investigator of their own site (a second membership).
    # Reads every site's data, blinded; signs the database lock (held for the whole study). A
    # role of the delegation log, so the designation is dated, audited and handed over; a
    # multinational trial may name one per country, any of whom signs.
    COORDINATING_INVESTIGATOR = "coordinating_investigator", _("Coordinating investigator")


class Action(StrEnum):
    """What someone may want to do on a study (later issues add their own)."""

    VIEW_STUDY = "view_study"  # outline, schedule, versions
    VIEW_SUBJECTS = "view_subjects"  # subjects and their data, at the sites one covers
    INCLUDE_SUBJECT = "include_subject"  # the screening log and inclusions
    RECORD_CONSENT = "record_consent"  # consents and their withdrawal
    CHANGE_STATUS = "change_status"  # study and treatment statuses, visits, news
    # Names, birth date, national ID: only site roles hold it, so only the subject's site sees them.
    VIEW_IDENTITY = "view_identity"
    TRANSFER_SUBJECT = "transfer_subject"  # move a subject to another site of the study
    ENTER_DATA = "enter_data"
    REVIEW_ELIGIBILITY = "review_eligibility"
    MONITOR = "monitor"  # source data verification, queries
    MANAGE_DATA = "manage_data"  # queries, reviews, locks
    CODE_TERMS = "code_terms"
    DISPENSE = "dispense"
    MANAGE_SAMPLES = "manage_samples"
    REPORT_SAFETY = "report_safety"
    EXPORT = "export"
    MANAGE_STUDY = "manage_study"  # definition, modes, sites
    MANAGE_ACCESS = "manage_access"  # memberships and tokens of the study
    # --- Queries (issue 18, quality app) ---
    RAISE_QUERY = "raise_query"  # ask a question on a subject's data (monitor, DM, reviewer)
    ANSWER_QUERY = "answer_query"  # answer it, or confirm a questioned value correct (the site)
    CLOSE_QUERY = "close_query"  # close, re-open or cancel queries (the raiser or a DM)
    # --- end of queries ---
    # --- Oversight (issue 19, oversight app) ---
    SIGN_DATA = "sign_data"  # the investigator signs a visit, a form or a casebook
    VIEW_AUDIT_TRAIL = "view_audit_trail"  # browse and export the study's audit trail
    # End the blind of the whole study, once its database is locked (sponsor, data manager).
    UNBLIND_STUDY = "unblind_study"
    # --- end of oversight ---
    # --- Pharmacy supply (issue 25, pharmacy app) ---
    # The sponsor's side of the stock: batches, kit lists, shipments from the depot, relabelling,
    # the decision on kits a temperature excursion quarantined. Reading a kit's content still
    # needs an unblinded role (or a command on the server): this action alone reveals no arm.
    MANAGE_SUPPLY = "manage_supply"
    # --- end of pharmacy supply ---
    # --- Activity report (issue 23, reports app) ---
    # Count the study's inclusions, queries and completeness per site and year (no patient data)
    VIEW_ACTIVITY = "view_activity"
    # --- end of activity report ---


# Site roles act for one site; a membership "for all sites" makes no sense for them.
SITE_ROLES = frozenset({Role.INVESTIGATOR, Role.DATA_ENTRY, Role.PHARMACIST})

# Roles that see treatment allocation: whoever holds one is unblinded for that study.
# Pharmacovigilance is not one of them: it reads an arm only for a case it unblinds (a suspected
# unexpected serious reaction), one subject at a time (randomization.unblinding).
UNBLINDED_ROLES = frozenset({Role.UNBLINDED_STATISTICIAN, Role.DSMB_STATISTICIAN})

_READ = {Action.VIEW_STUDY, Action.VIEW_SUBJECTS}
# What a site's own staff do for their patients.
_SITE_CARE = {
    Action.INCLUDE_SUBJECT,
    Action.RECORD_CONSENT,
    Action.CHANGE_STATUS,
    Action.VIEW_IDENTITY,
    Action.ENTER_DATA,
}
GRANTS: dict[str, frozenset[Action]] = {
    Role.INVESTIGATOR: frozenset(_READ | _SITE_CARE | {Action.REPORT_SAFETY}),
    Role.DATA_ENTRY: frozenset(_READ | _SITE_CARE),
    Role.PHARMACIST: frozenset(_READ | {Action.DISPENSE}),
    Role.MONITOR: frozenset(_READ | {Action.MONITOR}),
    Role.DATA_MANAGER: frozenset(
        _READ | {Action.MANAGE_DATA, Action.EXPORT, Action.MANAGE_STUDY, Action.TRANSFER_SUBJECT}
    ),
    Role.PROJECT_MANAGER: frozenset({Action.VIEW_STUDY, Action.MANAGE_STUDY}),
    Role.MEDICAL_REVIEWER: frozenset(_READ | {Action.REVIEW_ELIGIBILITY}),
    Role.CODER: frozenset(_READ | {Action.CODE_TERMS}),
    Role.STATISTICIAN: frozenset(_READ | {Action.EXPORT}),
    Role.UNBLINDED_STATISTICIAN: frozenset(_READ | {Action.EXPORT}),
    Role.DSMB_STATISTICIAN: frozenset(_READ | {Action.EXPORT}),
    Role.PHARMACOVIGILANCE: frozenset(_READ | {Action.REPORT_SAFETY}),
    Role.BIOBANK_TECHNICIAN: frozenset({Action.VIEW_STUDY, Action.MANAGE_SAMPLES}),
    Role.SPONSOR: frozenset(_READ),
    Role.ADMINISTRATOR: frozenset({Action.VIEW_STUDY, Action.MANAGE_STUDY, Action.MANAGE_ACCESS}),
}

# --- Queries (issue 18, quality app): a site answers; monitors, data managers and medical
# reviewers raise; the quality services decide further who of them closes (the raiser or a data
# manager; a study may reserve closing to the raiser).
_QUERY_GRANTS = {
    Role.INVESTIGATOR: {Action.ANSWER_QUERY},
    Role.DATA_ENTRY: {Action.ANSWER_QUERY},
    Role.MONITOR: {Action.RAISE_QUERY, Action.CLOSE_QUERY},
    Role.DATA_MANAGER: {Action.RAISE_QUERY, Action.CLOSE_QUERY},
    Role.MEDICAL_REVIEWER: {Action.RAISE_QUERY, Action.CLOSE_QUERY},
    # A coder asks the site about a verbatim term they cannot code (issue 24, coding).
    Role.CODER: {Action.RAISE_QUERY, Action.CLOSE_QUERY},
}
GRANTS.update({role: GRANTS[role] | actions for role, actions in _QUERY_GRANTS.items()})
# --- end of queries ---

# --- Oversight (issue 19): the investigator signs (at their own site); data managers,
# administrators and inspectors browse the audit trail. Locks are MANAGE_DATA's. The
# coordinating investigator reads every site (their own site's casebooks they sign as that
# site's investigator). Once the database is locked, the sponsor, or the data manager for it,
# ends the blind of the whole study (randomization.study_unblinding).
GRANTS[Role.INSPECTOR] = frozenset(_READ | {Action.VIEW_AUDIT_TRAIL})
GRANTS[Role.COORDINATING_INVESTIGATOR] = frozenset(_READ)
_OVERSIGHT_GRANTS = {
    Role.INVESTIGATOR: {Action.SIGN_DATA},
    Role.DATA_MANAGER: {Action.VIEW_AUDIT_TRAIL, Action.UNBLIND_STUDY},
    Role.ADMINISTRATOR: {Action.VIEW_AUDIT_TRAIL},
    Role.SPONSOR: {Action.UNBLIND_STUDY},
}
GRANTS.update({role: GRANTS[role] | actions for role, actions in _OVERSIGHT_GRANTS.items()})
# --- end of oversight ---

# --- Pharmacy supply (issue 25): the sponsor's project manager runs the depot's side (batches,
# kit lists, shipments, relabelling, excursion decisions), blinded: the pharmacy never shows them
# a kit's content.
GRANTS[Role.PROJECT_MANAGER] = GRANTS[Role.PROJECT_MANAGER] | {Action.MANAGE_SUPPLY}
# --- end of pharmacy supply ---
# --- Activity report (issue 23): the counts a centre reports each year, for those who steer a
# study (sponsor, project manager, data manager, study administrator, statisticians, the
# coordinating investigator) and those
# who answer for a site's inclusions (investigator, monitor: their sites only). Not the roles
# doing one task (data entry, pharmacist, coder, reviewers, biobank technician), nor inspectors.
_ACTIVITY_ROLES = (
    Role.SPONSOR,
    Role.PROJECT_MANAGER,
    Role.DATA_MANAGER,
    Role.ADMINISTRATOR,
    Role.STATISTICIAN,
    Role.UNBLINDED_STATISTICIAN,
    Role.DSMB_STATISTICIAN,
    Role.COORDINATING_INVESTIGATOR,
    Role.INVESTIGATOR,
    Role.MONITOR,
)
GRANTS.update({role: GRANTS[role] | {Action.VIEW_ACTIVITY} for role in _ACTIVITY_ROLES})
# --- end of activity report ---
