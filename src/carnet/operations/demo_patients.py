"""Synthetic patients for the demo studies, entered through the real services.

Each patient is planned from a seeded generator on a fixed calendar (the demo sites open in 2025)
and lived day by day up to yesterday: screening, inclusion, cycles, imaging, adverse events,
end of treatment, follow-up, death or withdrawal. Everything is written by the data-entry
account of the patient's site with `subject_include`, `form_save`, `visit_record`… so the audit
trail, the edit checks and the schedule are those a real site would produce.

A patient is one transaction and is known by its screening number: a second run, or a run after
an interruption, adds only the patients missing. Nothing is dated today or later.
"""

# ruff: noqa: S311 (synthetic data wants a seeded, reproducible generator, not secrecy)
from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from django.db import transaction

from carnet.accounts.models import StudySite, User
from carnet.audit.services import SystemActor
from carnet.capture.services import Missing, form_mark_not_done, form_save
from carnet.core.clock import utc_today
from carnet.operations.demo import DEMO_SITE_STAFF, demo_site_staff_load
from carnet.studies.models import Study
from carnet.subjects.models import ScreeningEntry, Sex, Subject
from carnet.subjects.services import (
    ConsentGiven,
    consent_withdraw,
    news_record,
    screening_entry_add,
    subject_change_status,
    subject_change_treatment,
    subject_include,
    visit_record,
)
from carnet.subjects.statuses import OffTreatmentReason, StudyStatus, WithdrawalKind

PHASE3 = "MAINTAIN-CRC"
PHASE2 = "ACC-209"
SEED = "carnet-demo-2025"
# The data-entry account of each demo site (site 01's is a DEMO_ACCOUNTS role account).
SITE_STAFF = {"01": "dataentry"} | {f"{n:02d}": name for name, _full, n in DEMO_SITE_STAFF}
# Share of inclusions per site: the sponsor's centre recruits most.
PHASE3_SITES = (("01", 0.45), ("02", 0.35), ("03", 0.20))
PHASE2_SITES = (("01", 0.3), ("02", 0.25), ("03", 0.45))
# Fixed accrual calendar: the last planned inclusion of each study; patients planned after
# yesterday are simply not there yet.
PHASE3_ACCRUAL_ENDS = date(2026, 10, 30)
# Simon two-stage: stage 1 (10 patients), a pause while they are assessed, then stage 2.
PHASE2_STAGE1 = (date(2025, 3, 20), date(2025, 8, 15))
PHASE2_STAGE2 = (date(2026, 1, 12), date(2026, 10, 20))
PHASE2_STAGE1_SIZE = 10
# Entry lag: a visit of the last days is often not entered yet.
ENTRY_LAG_DAYS = 10

Progress = Callable[[str, int, int], None]
# The eligibility form of each study: every inclusion criterion Yes, every exclusion No.
PHASE3_INCLUSION_ITEMS = (
    "incl_age", "incl_histology", "incl_metastatic", "incl_induction", "incl_ecog",
    "incl_organ_function", "incl_contraception", "incl_social_security",
)  # fmt: skip
PHASE3_EXCLUSION_ITEMS = (
    "excl_msi", "excl_brain_mets", "excl_other_cancer", "excl_hypertension", "excl_bleeding",
    "excl_pregnancy", "excl_other_trial", "excl_legal_protection",
)  # fmt: skip
PHASE2_INCLUSION_ITEMS = (
    "incl_histology", "incl_recurrent", "incl_progression", "incl_measurable",
    "incl_organ_function", "incl_social_security",
)  # fmt: skip
PHASE2_EXCLUSION_ITEMS = (
    "excl_prior_inhibitor", "excl_brain_mets", "excl_qtc", "excl_pregnancy",
    "excl_legal_protection",
)  # fmt: skip


@dataclass
class StudyPatients:
    """What the demo holds for one study after a run."""

    identifier: str
    planned: int
    added: int = 0
    already_there: int = 0
    not_yet: int = 0  # planned after yesterday on the demo calendar
    screening_log_added: int = 0
    forms_saved: int = 0
    forms_not_done: int = 0
    statuses: Counter[str] = field(default_factory=Counter)


class _Writer:
    """Writes one patient's data as the data-entry account of their site."""

    def __init__(self, actor: User, subject: Subject, summary: StudyPatients, last_day: date):
        self.actor, self.subject, self.summary, self.last_day = actor, subject, summary, last_day

    def visit(self, event: str, on: date, occurrence: int | None = None) -> None:
        visit_record(
            actor=self.actor, subject=self.subject, event=event, visit_on=on, occurrence=occurrence
        )

    def save(
        self,
        event: str,
        form: str,
        values: dict[str, Any] | None = None,
        *,
        occurrence: int = 1,
        repeat: int = 1,
        rows: dict[str, dict[int, dict[str, Any] | None]] | None = None,
        complete: bool = True,
    ) -> int:
        outcome = form_save(
            actor=self.actor,
            subject=self.subject,
            event=event,
            occurrence=occurrence,
            form=form,
            repeat=repeat,
            base_version=None,
            values={k: v for k, v in (values or {}).items() if v is not None},
            rows=rows,
            complete=complete,
        )
        self.summary.forms_saved += 1
        return outcome.form_instance.version

    def correct(
        self, event: str, form: str, version: int, values: dict[str, Any], *, occurrence: int
    ) -> None:
        """Change values of a completed form, as after a monitoring visit (needs a reason)."""
        form_save(
            actor=self.actor,
            subject=self.subject,
            event=event,
            occurrence=occurrence,
            form=form,
            base_version=version,
            values=values,
            reason="Transcription error corrected from the source document",
        )

    def not_done(self, event: str, form: str, reason: str, *, occurrence: int = 1) -> None:
        form_mark_not_done(
            actor=self.actor,
            subject=self.subject,
            event=event,
            occurrence=occurrence,
            form=form,
            base_version=None,
            reason=reason,
        )
        self.summary.forms_not_done += 1

    def refresh(self) -> None:
        self.subject = Subject.objects.get(pk=self.subject.pk)


# --- shared generators -------------------------------------------------------------------------


def _spread(rng: random.Random, start: date, end: date, count: int) -> list[date]:
    """Return ``count`` sorted dates between start and end, inclusions speeding up over time."""
    span = (end - start).days
    # sqrt: a site recruits slowly at first, then at its cruising rate.
    return sorted(start + timedelta(days=int(span * math.sqrt(rng.random()))) for _ in range(count))


def _site_plan(rng: random.Random, shares: tuple[tuple[str, float], ...], count: int) -> list[str]:
    codes = [code for code, _share in shares]
    weights = [share for _code, share in shares]
    return rng.choices(codes, weights=weights, k=count)


def _exp_days(rng: random.Random, median_days: float) -> int:
    return max(10, int(rng.expovariate(math.log(2) / median_days)))


def _as_json(values: dict[str, Any]) -> dict[str, Any]:
    """Return eligibility values as the API sends them (the subject keeps them as JSON)."""
    return {k: v.isoformat() if isinstance(v, date) else v for k, v in values.items()}


def _gauss(rng: random.Random, mean: float, sd: float, low: float, high: float) -> float:
    return min(high, max(low, rng.gauss(mean, sd)))


@dataclass
class _Lesion:
    site: int
    node: bool
    diameter: int


# CTCAE v5.0 terms, with their weight for each kind of drug.
ANTI_ANGIOGENIC_AES = (
    ("Hypertension", 8),
    ("Fatigue", 7),
    ("Proteinuria", 4),
    ("Epistaxis", 4),
    ("Diarrhea", 5),
    ("Nausea", 4),
    ("Headache", 3),
    ("Abdominal pain", 3),
    ("Anemia", 2),
    ("Neutrophil count decreased", 2),
    ("Peripheral sensory neuropathy", 3),
    ("Mucositis oral", 2),
    ("Thromboembolic event", 1),
    ("Wound complication", 1),
)
PLACEBO_AES = (
    ("Fatigue", 7),
    ("Peripheral sensory neuropathy", 5),
    ("Diarrhea", 3),
    ("Nausea", 3),
    ("Abdominal pain", 3),
    ("Constipation", 3),
    ("Anorexia", 2),
    ("Hypertension", 1),
    ("Anemia", 1),
)
KINASE_INHIBITOR_AES = (
    ("Hypertension", 7),
    ("Fatigue", 7),
    ("Diarrhea", 5),
    ("Palmar-plantar erythrodysesthesia syndrome", 5),
    ("Mucositis oral", 4),
    ("Hypothyroidism", 3),
    ("Anorexia", 3),
    ("Proteinuria", 2),
    ("Dysgeusia", 2),
    ("Alanine aminotransferase increased", 1),
)
# Medication given for an adverse event: (name, indication, dose, route).
AE_MEDICATIONS = {
    "Hypertension": ("Amlodipine", "Hypertension", "5 mg once daily", 1),
    "Diarrhea": ("Loperamide", "Diarrhoea", "2 mg after each loose stool", 1),
    "Nausea": ("Ondansetron", "Nausea", "8 mg twice daily", 1),
    "Mucositis oral": ("Chlorhexidine mouthwash", "Oral mucositis", "3 times daily", 5),
    "Thromboembolic event": ("Enoxaparin", "Venous thrombosis", "100 IU/kg twice daily", 3),
    "Hypothyroidism": ("Levothyroxine", "Hypothyroidism", "50 µg once daily", 1),
    "Palmar-plantar erythrodysesthesia syndrome": (
        "Urea cream 10%",
        "Hand-foot syndrome",
        "twice daily",
        5,
    ),
}
BACKGROUND_MEDICATIONS = (
    ("Ramipril", "Hypertension", "5 mg once daily", 1),
    ("Metformin", "Type 2 diabetes", "1000 mg twice daily", 1),
    ("Atorvastatin", "Hypercholesterolaemia", "20 mg once daily", 1),
    ("Omeprazole", "Gastro-oesophageal reflux", "20 mg once daily", 1),
    ("Paracetamol", "Pain", "1 g up to 3 times daily", 1),
    ("Levothyroxine", "Hypothyroidism", "75 µg once daily", 1),
)
MEDICAL_HISTORY = (
    ("Hypertension", "2014", 1),
    ("Type 2 diabetes", "2017-03", 1),
    ("Hypercholesterolaemia", "2016", 1),
    ("Appendicectomy", "1989", 0),
    ("Cholecystectomy", "2011-09", 0),
    ("Gastro-oesophageal reflux disease", "2019", 1),
    ("Hypothyroidism", "2012", 1),
    ("Osteoarthritis of the knee", "2018", 1),
)


@dataclass
class _AdverseEvent:
    term: str
    grade: int
    start: date
    end: date
    serious: bool
    relation: int
    action: int


def _ae_values(ae: _AdverseEvent, last_day: date, *, sae_criteria: bool) -> dict[str, Any]:
    """Return an adverse event's form, ongoing if it outlasts ``last_day`` (yesterday, or the
    day of death: nothing of a patient is dated after it)."""
    ongoing = ae.end > last_day
    values: dict[str, Any] = {
        "ae_term": ae.term,
        "ae_grade": ae.grade,
        "ae_start": ae.start,
        "ae_ongoing": 1 if ongoing else 0,
        "ae_end": None if ongoing else ae.end,
        "ae_serious": 1 if ae.serious else 0,
        "ae_relation": ae.relation,
        "ae_action": ae.action,
        "ae_outcome": (2 if ae.grade <= 2 else 3) if ongoing else (4 if ae.grade >= 4 else 1),
    }
    if sae_criteria and ae.serious:
        values["sae_criteria"] = [3]  # hospitalisation
    return values


def _save_medications(
    writer: _Writer,
    event: str,
    medications: list[tuple[tuple[str, str, str, int], date, date | None]],
    last_day: date,
) -> None:
    for repeat, ((name, indication, dose, route), start, end) in enumerate(medications, 1):
        ongoing = end is None or end > last_day
        writer.save(
            event,
            "concomitant_medication",
            {
                "cm_name": name,
                "cm_indication": indication,
                "cm_dose": dose,
                "cm_route": route,
                "cm_start": start,
                "cm_ongoing": 1 if ongoing else 0,
                "cm_end": None if ongoing else end,
            },
            repeat=repeat,
        )


def _recist(
    rng: random.Random, baseline: list[_Lesion], fraction: float, progressing: bool
) -> list[int]:
    """Return the target diameters at a fraction of the baseline sum (lesions vary around it)."""
    diameters = []
    for lesion in baseline:
        own = fraction * _gauss(rng, 1.0, 0.08, 0.7, 1.3)
        diameters.append(max(0, min(300, round(lesion.diameter * own))))
    if progressing and sum(diameters) < 1.2 * sum(x.diameter for x in baseline):
        diameters[0] += 8
    return diameters


# --- MAINTAIN-CRC ------------------------------------------------------------------------------


@dataclass
class _Phase3Patient:
    number: int
    site: str
    included_on: date
    rng: random.Random


def _phase3_plan(count: int) -> list[_Phase3Patient]:
    rng = random.Random(f"{SEED}:{PHASE3}")
    sites = _site_plan(rng, PHASE3_SITES, count)
    starts = {"01": date(2025, 2, 3), "02": date(2025, 2, 24), "03": date(2025, 3, 31)}
    patients = []
    for code in sorted(set(sites)):
        numbers = [n for n, s in enumerate(sites, 1) if s == code]
        dates = _spread(rng, starts[code], PHASE3_ACCRUAL_ENDS, len(numbers))
        for number, day in zip(numbers, dates, strict=True):
            patients.append(
                _Phase3Patient(number, code, day, random.Random(f"{SEED}:{PHASE3}:{number}"))
            )
    return sorted(patients, key=lambda p: (p.included_on, p.number))


def _phase3_lab(
    rng: random.Random,
    on: date,
    *,
    sex: int,
    age: int,
    weight: float,
    site: str,
    baseline: bool,
    arm_effect: bool,
    low_counts: bool = False,
) -> dict[str, Any]:
    """Return a haematology and biochemistry panel, mostly normal, sometimes not."""
    uln = {"01": (17.0, 40, 40), "02": (21.0, 35, 35), "03": (17.0, 45, 40)}[site]
    leukocytes = round(_gauss(rng, 6.5, 1.8, 2.2, 14.0), 2)
    neutrophils = round(leukocytes * _gauss(rng, 0.6, 0.08, 0.4, 0.78), 2)
    if baseline:
        neutrophils = max(neutrophils, 1.6)
        leukocytes = max(leukocytes, round(neutrophils / 0.7, 2))
    elif low_counts:
        neutrophils = round(rng.uniform(0.5, 0.95), 2)
        leukocytes = round(neutrophils / rng.uniform(0.35, 0.55), 2)
    platelets = int(_gauss(rng, 250, 70, 110 if baseline else 40, 600))
    factor = 1.23 if sex == 1 else 1.04
    # At baseline the creatinine allows a clearance of at least 55 mL/min (criterion: 50).
    ceiling = (140 - age) * weight * factor / 55
    creatinine = round(_gauss(rng, 78 if sex == 1 else 64, 14, 40, 140))
    if baseline:
        creatinine = min(creatinine, int(ceiling))
    alt_uln, ast_uln = uln[1], uln[2]
    values: dict[str, Any] = {
        "lab_date": on,
        "haemoglobin": round(
            _gauss(rng, 12.6 if sex == 1 else 11.8, 1.2, 9.2 if baseline else 7.5, 16.5), 1
        ),
        "leukocytes": leukocytes,
        "neutrophils": neutrophils,
        "platelets": platelets,
        "creatinine": creatinine,
        "bilirubin": round(_gauss(rng, 9, 3.5, 3, 1.4 * uln[0]), 1),
        "bili_uln": uln[0],
        "alt": int(_gauss(rng, 26, 10, 7, 2.2 * alt_uln)),
        "alt_uln": alt_uln,
        "ast": int(_gauss(rng, 27, 9, 9, 2.2 * ast_uln)),
        "ast_uln": ast_uln,
        "alp": int(_gauss(rng, 110, 45, 40, 450)),
        "albumin": round(_gauss(rng, 38, 4, 24, 48), 1),
        "cea": round(min(9000.0, rng.lognormvariate(2.3, 1.3)), 1),
        "proteinuria": 0
        if baseline
        else rng.choices([0, 1, 2], [0.8, 0.15, 0.05 + 0.1 * arm_effect])[0],
    }
    if rng.random() < 0.07:
        values["cea"] = Missing("ND")
    if not baseline and rng.random() < 0.03:
        values["alp"] = Missing("ND")
    return values


def _phase3_vitals(
    rng: random.Random, weight: float, *, height: int | None, hypertensive: bool
) -> dict[str, Any]:
    sbp = int(_gauss(rng, 148 if hypertensive else 128, 12, 95, 175))
    dbp = int(_gauss(rng, 88 if hypertensive else 76, 8, 55, 105))
    values: dict[str, Any] = {
        "weight": round(weight, 1),
        "height": height,
        "sbp": sbp,
        "dbp": min(dbp, sbp - 25),
        "heart_rate": int(_gauss(rng, 76, 10, 50, 120)),
        "temperature": round(_gauss(rng, 36.7, 0.3, 35.8, 38.4), 1),
    }
    if rng.random() < 0.04:
        values["temperature"] = Missing("ND")
    return values


# The demo generator tells each patient's story event by event, as a script reads: split into
# steps it would say less, so it keeps its branches (ruff's complexity limit does not apply).
def _phase3_patient(  # noqa: C901
    patient: _Phase3Patient,
    *,
    study: Study,
    site: StudySite,
    actor: User,
    summary: StudyPatients,
    last_day: date,
    rando_number: int,
) -> None:
    rng = patient.rng
    inclusion = patient.included_on
    sex = rng.choice([1, 1, 1, 2, 2])  # colorectal cancer: about 60% men
    age = int(_gauss(rng, 65, 9, 31, 84))
    height = int(_gauss(rng, 174 if sex == 1 else 162, 7, 148, 198))
    weight = round(_gauss(rng, 24.5, 3.5, 17.5, 34) * (height / 100) ** 2, 1)
    ecog = 0 if rng.random() < 0.58 else 1
    experimental = rng.random() < 0.5  # the concealed arm drives the course, never recorded
    consent_on = inclusion - timedelta(days=rng.randint(4, 21))
    induction_end = inclusion - timedelta(days=rng.randint(14, 46))
    induction_start = induction_end - timedelta(days=rng.randint(100, 166))
    diagnosis = induction_start - timedelta(days=rng.randint(12, 70))
    liver = rng.random() < 0.7
    others = {s for s, p in ((2, 0.35), (3, 0.3), (4, 0.15), (5, 0.05)) if rng.random() < p}
    met_sites = sorted(({1} if liver else set()) | others or {2})
    baseline_day = max(consent_on, inclusion - timedelta(days=rng.randint(0, 6)))
    baseline_lab = _phase3_lab(
        rng,
        baseline_day,
        sex=sex,
        age=age,
        weight=weight,
        site=patient.site,
        baseline=True,
        arm_effect=False,
    )
    hypertensive = rng.random() < 0.3
    baseline_vitals = _phase3_vitals(rng, weight, height=height, hypertensive=hypertensive)
    baseline_vitals["sbp"] = min(baseline_vitals["sbp"], 158)
    baseline_vitals["dbp"] = min(baseline_vitals["dbp"], 98)
    msi = rng.choices([1, 9], [0.9, 0.1])[0]
    factor = 1.23 if sex == 1 else 1.04
    clearance = round((140 - age) * weight * factor / baseline_lab["creatinine"])
    eligibility = {
        "screening.age": age,
        "screening.incl_histology": 1,
        "screening.incl_metastatic": 1,
        "screening.induction_start": induction_start,
        "screening.induction_end": induction_end,
        "screening.induction_resp": rng.choices([2, 3, 1], [0.45, 0.5, 0.05])[0],
        "baseline.ecog_ps": ecog,
        "baseline.neutrophils": baseline_lab["neutrophils"],
        "baseline.platelets": baseline_lab["platelets"],
        "baseline.haemoglobin": baseline_lab["haemoglobin"],
        "baseline.creat_clearance": clearance,
        "baseline.bilirubin": baseline_lab["bilirubin"],
        "baseline.bili_uln": baseline_lab["bili_uln"],
        "baseline.alt": baseline_lab["alt"],
        "baseline.alt_uln": baseline_lab["alt_uln"],
        "baseline.ast": baseline_lab["ast"],
        "baseline.ast_uln": baseline_lab["ast_uln"],
        "screening.met_sites": met_sites,
        "screening.incl_social_security": 1,
        "screening.msi_status": msi,
        "screening.excl_brain_mets": 0,
        "screening.excl_other_cancer": 0,
        "baseline.sbp": baseline_vitals["sbp"],
        "baseline.dbp": baseline_vitals["dbp"],
        "screening.excl_hypertension": 0,
        "baseline.proteinuria": 0,
        "screening.excl_bleeding": 0,
        "screening.excl_pregnancy": 0,
        "screening.excl_other_trial": 0,
        "screening.excl_legal_protection": 0,
    }
    biobank = rng.random() < 0.7  # optional biobank consent
    subject = subject_include(
        actor=actor,
        study=study,
        site=site,
        included_on=inclusion,
        eligibility=_as_json(eligibility),
        consent=ConsentGiven(
            form_version="v2.0 2024-11-04",
            consented_on=consent_on,
            biobank=biobank,
        ),
        sex=Sex.MALE if sex == 1 else Sex.FEMALE,
        age=age,
        screening_number=f"MC{patient.number:04d}",
        casebook=False,  # the generator writes every casebook form itself, just below
    )
    w = _Writer(actor, subject, summary, last_day)

    # Screening: consent, eligibility, demographics, history, baseline imaging.
    w.visit("screening", consent_on + timedelta(days=rng.randint(0, (inclusion - consent_on).days)))
    w.save(
        "screening",
        "consent",
        {
            "consent_date": consent_on,
            "consent_version": "v2.0 2024-11-04",
            # The consent form says what the consent record says.
            "biobank_consent": int(biobank),
        },
    )
    w.save(
        "screening",
        "eligibility",
        {
            **dict.fromkeys(PHASE3_INCLUSION_ITEMS, 1),
            **dict.fromkeys(PHASE3_EXCLUSION_ITEMS, 0),
            "elig_met": 1,
        },
    )
    w.save(
        "screening",
        "demographics",
        {
            "sex": sex,
            "age": age,
            "childbearing": (1 if age < 50 else 0) if sex == 2 else None,
        },
    )
    ras = rng.choices([1, 2, 3, 9], [0.45, 0.45, 0.06, 0.04])[0]
    biologic = (
        rng.choices([0, 1, 2, 3], [0.2, 0.55, 0.15, 0.1])[0]
        if ras == 1
        else rng.choice([0, 1, 1, 1])
    )
    regimen = rng.choices([1, 2, 3, 4], [0.45, 0.2, 0.25, 0.1])[0]
    cycle_days = 21 if regimen == 2 else 14
    w.save(
        "screening",
        "disease_history",
        {
            "diag_date": diagnosis,
            "primary_site": rng.choices([1, 2, 3], [0.3, 0.45, 0.25])[0],
            "primary_resected": Missing("UNK") if rng.random() < 0.03 else int(rng.random() < 0.55),
            "synchronous_mets": int(rng.random() < 0.75),
            "met_sites": met_sites,
            "ras_status": ras,
            "braf_status": rng.choices([1, 2, 9], [0.88, 0.08, 0.04])[0],
            "msi_status": msi,
            "induction_regimen": regimen,
            "induction_biologic": biologic,
            "induction_start": induction_start,
            "induction_end": induction_end,
            "induction_cycles": min(20, 1 + (induction_end - induction_start).days // cycle_days),
            "induction_resp": eligibility["screening.induction_resp"],
        },
    )
    history = rng.sample(MEDICAL_HISTORY, rng.choice([0, 0, 1, 1, 2, 3]))
    w.save(
        "screening",
        "medical_history",
        {"mh_any": 1 if history else 0},
        rows={
            "mh_rows": {
                row: {"mh_term": term, "mh_start": start, "mh_ongoing": ongoing}
                for row, (term, start, ongoing) in enumerate(history, 1)
            }
        }
        if history
        else None,
    )
    lesions = []
    for _ in range(rng.choice([1, 2, 2, 3, 3, 4, 5])):
        organ = 1 if liver and rng.random() < 0.6 else rng.choice(met_sites)
        node = organ == 3
        lesions.append(_Lesion(organ, node, rng.randint(15 if node else 10, 70)))
    nontargets = [s for s in met_sites if rng.random() < 0.4]
    w.save(
        "screening",
        "tumour_baseline",
        {
            "bl_scan_date": inclusion - timedelta(days=rng.randint(3, 26)),
            "bl_method": rng.choices([1, 3, 2], [0.75, 0.2, 0.05])[0],
        },
        rows={
            "bl_targets": {
                row: {"bl_tl_site": x.site, "bl_tl_node": int(x.node), "bl_tl_diam": x.diameter}
                for row, x in enumerate(lesions, 1)
            },
            "bl_nontargets": {
                row: {"bl_ntl_site": organ, "bl_ntl_desc": "Multiple small lesions"}
                for row, organ in enumerate(nontargets, 1)
            },
        },
    )

    # Baseline and randomisation (inclusion is the randomisation call).
    w.visit("baseline", baseline_day)
    strat = ecog if rng.random() > 0.03 else 1 - ecog  # a stratification error now and then
    w.save(
        "baseline",
        "randomisation",
        {
            "rando_date": inclusion,
            "rando_number": f"R{rando_number:04d}",
            "strat_ecog": strat,
        },
    )
    w.save("baseline", "ecog", {"ecog_ps": ecog})
    w.save("baseline", "vital_signs", baseline_vitals)
    w.save("baseline", "laboratory", baseline_lab)

    # The course of the disease, unknown to the site until it happens.
    median_pfs = 173 if experimental else 122
    progression_day = inclusion + timedelta(days=_exp_days(rng, median_pfs))
    death_day = progression_day + timedelta(days=_exp_days(rng, 420))
    # The site learns of a death days or weeks later; until then the patient just misses visits.
    death_known = death_day + timedelta(days=rng.randint(2, 25)) <= last_day
    stop_day = None
    if rng.random() < 0.04:
        stop_day = inclusion + timedelta(days=rng.randint(30, 200))
    sum0 = sum(x.diameter for x in lesions)
    best = rng.uniform(0.55, 0.85) if rng.random() < 0.3 else rng.uniform(0.88, 1.02)

    # Imaging every 8 weeks from randomisation until progression, whatever the treatment.
    assessments: list[tuple[int, date, bool]] = []
    progressed_on = None
    k = 1
    while True:
        day = inclusion + timedelta(days=56 * k + rng.randint(-5, 5))
        if day > last_day or day >= death_day:
            break
        progressing = day >= progression_day
        assessments.append((k, day, progressing))
        if progressing:
            progressed_on = day
            break
        k += 1

    # Treatment cycles every 14 days from the previous one, with delays and dose reductions.
    c1 = inclusion + timedelta(days=rng.randint(0, 3))
    eot_day = None
    eot_reason = None
    if progressed_on is not None:
        eot_day, eot_reason = progressed_on + timedelta(days=rng.randint(1, 6)), 1
    if stop_day is not None and (eot_day is None or stop_day < eot_day):
        eot_day, eot_reason = stop_day, 3
    if death_known and (eot_day is None or death_day < eot_day):
        eot_day, eot_reason = death_day, 5
    if eot_day is not None and eot_day > last_day:
        eot_day, eot_reason = None, None
    cycles: list[tuple[int, date, dict[str, Any]]] = []
    aes: list[_AdverseEvent] = []
    level, delay_next, reduce_next = 1, 0, False
    day, current_weight = c1, weight
    low_counts_next = False
    ae_pool = ANTI_ANGIOGENIC_AES if experimental else PLACEBO_AES
    n = 1
    while day <= last_day and (eot_day is None or day < eot_day) and day < death_day:
        current_weight = round(current_weight * _gauss(rng, 0.998, 0.012, 0.96, 1.03), 1)
        given = rng.random() > 0.02
        treatment: dict[str, Any] = {"adm_given": 1 if given else 0}
        if given:
            reduced = reduce_next
            treatment |= {
                "adm_date": day,
                "kit_number": f"{rng.randint(100000, 999999)}",
                "dose_level": level,
                "adm_dose": round(
                    current_weight * {1: 8, 2: 6, 3: 4}[level] * rng.uniform(0.98, 1.02)
                ),
                "cycle_delayed": 1 if delay_next >= 4 else 0,
                "delay_days": delay_next if delay_next >= 4 else None,
                "delay_reason": (1 if reduce_next else rng.choice([1, 2, 2, 3]))
                if delay_next >= 4
                else None,
                "dose_reduced": 1 if reduced else 0,
                "reduction_reason": 1 if reduced else None,
            }
        else:
            treatment["adm_not_given_reason"] = rng.choice([1, 1, 3, 9])
        cycles.append(
            (
                n,
                day,
                {"weight": current_weight, "treatment": treatment, "low_counts": low_counts_next},
            )
        )
        low_counts_next, reduce_next, delay_next = False, False, 0
        if rng.random() < (0.22 if experimental else 0.15):
            term = rng.choices([t for t, _w in ae_pool], [w for _t, w in ae_pool])[0]
            grade = rng.choices([1, 2, 3, 4], [0.55, 0.31, 0.12, 0.02])[0]
            start = day + timedelta(days=rng.randint(1, 12))
            if start <= last_day and start < death_day:
                serious = grade >= 3 and rng.random() < 0.4
                action = 1
                if grade >= 3:
                    action = 2 if level < 3 else 4
                    delay_next = rng.randint(5, 14)
                    if level < 3:
                        level, reduce_next = level + 1, True
                    else:
                        # No lower dose level left: the treatment stops for toxicity.
                        stop = start + timedelta(days=rng.randint(2, 8))
                        if stop <= last_day and (eot_day is None or stop < eot_day):
                            eot_day, eot_reason = stop, 2
                    low_counts_next = term == "Neutrophil count decreased"
                elif grade == 2 and rng.random() < 0.3:
                    delay_next, action = rng.randint(4, 8), 3
                aes.append(
                    _AdverseEvent(
                        term,
                        grade,
                        start,
                        start + timedelta(days=rng.randint(4, 45)),
                        serious,
                        rng.choice([3, 4]) if experimental else rng.choice([1, 2, 3]),
                        action,
                    )
                )
        day = day + timedelta(days=14 + max(delay_next, rng.choice([0] * 8 + [1, 2, 3])))
        n += 1
    if eot_day is None and cycles:
        # Still on treatment: the latest cycles of the last days are often not entered yet.
        while cycles and (last_day - cycles[-1][1]).days < ENTRY_LAG_DAYS and rng.random() < 0.5:
            cycles.pop()

    if cycles:
        subject_change_treatment(
            actor=actor, subject=w.subject, status="on_treatment", on=cycles[0][1]
        )
        w.refresh()
    for n, day, cycle in cycles:
        w.visit("cycle", day, occurrence=n)
        w.save(
            "cycle",
            "vital_signs",
            _phase3_vitals(
                rng,
                cycle["weight"],
                height=None,
                hypertensive=hypertensive or (experimental and n > 3),
            ),
            occurrence=n,
        )
        w.save("cycle", "treatment", cycle["treatment"], occurrence=n)
        if rng.random() < 0.015:
            w.not_done("cycle", "ecog", "NOT_PERFORMED", occurrence=n)
        else:
            w.save("cycle", "ecog", {"ecog_ps": min(2, ecog + (rng.random() < 0.08))}, occurrence=n)
        if rng.random() < 0.03:
            w.not_done("cycle", "laboratory", "NOT_PERFORMED", occurrence=n)
        else:
            lab = _phase3_lab(
                rng,
                day - timedelta(days=rng.randint(0, 1)),
                sex=sex,
                age=age,
                weight=cycle["weight"],
                site=patient.site,
                baseline=False,
                arm_effect=experimental,
                low_counts=cycle["low_counts"],
            )
            # The last cycle's panel may still be waiting for its results.
            latest = n == cycles[-1][0] and eot_day is None
            version = w.save("cycle", "laboratory", lab, occurrence=n, complete=not latest)
            if not latest and rng.random() < 0.02:
                fixed = lab["haemoglobin"] + 0.1 if lab["haemoglobin"] < 16 else 12.0
                w.correct(
                    "cycle", "laboratory", version, {"haemoglobin": round(fixed, 1)}, occurrence=n
                )

    # Tumour assessments: sums follow a RECIST trajectory, nadir then progression.
    nadir = float(sum0)
    for k, day, progressing in assessments:
        fraction = best + (1 - best) * math.exp(-k) if not progressing else 1.0
        diameters = _recist(rng, lesions, fraction, progressing=False)
        new_lesions = target_progression = nontarget_progression = False
        if progressing:
            # RECIST 1.1: +20% over the nadir, a new lesion, or unequivocal non-target growth.
            target_progression = rng.random() < 0.6
            new_lesions = rng.random() < (0.3 if target_progression else 0.75) or not nontargets
            nontarget_progression = not target_progression and not new_lesions
            if target_progression:
                scale = max(1.25 * nadir / max(sum(diameters), 1), 1.0)
                diameters = [min(300, round(d * scale) + 1) for d in diameters]
        total = sum(diameters)
        nadir = min(nadir, total)
        change = 100 * (total - sum0) / sum0
        if target_progression:
            target = 4
        elif total == 0:
            target = 1
        elif change <= -30:
            target = 2
        else:
            target = 3
        nontarget = (4 if nontarget_progression else 2) if nontargets else None
        overall = 4 if progressing else (2 if target == 1 and nontargets else target)
        w.visit("tumour_assessment", day, occurrence=k)
        w.save(
            "tumour_assessment",
            "tumour_assessment",
            {
                "ta_date": day,
                "ta_method": rng.choices([1, 3], [0.85, 0.15])[0],
                "target_resp": target,
                "nontarget_resp": nontarget,
                "new_lesions": 1 if new_lesions else 0,
                "new_lesion_sites": rng.sample([1, 2, 3, 4], rng.randint(1, 2))
                if new_lesions
                else None,
                "overall_resp": overall,
            },
            occurrence=k,
            rows={
                "targets": {
                    row: {"tl_site": x.site, "tl_node": int(x.node), "tl_diam": d}
                    for row, (x, d) in enumerate(zip(lesions, diameters, strict=True), 1)
                },
                "nontargets": {
                    row: {"ntl_site": organ, "ntl_status": 3 if nontarget == 4 else 1}
                    for row, organ in enumerate(nontargets, 1)
                },
            },
        )

    # Logs: adverse events and concomitant medications, as they stand yesterday or at death.
    known_until = min(last_day, death_day - timedelta(days=1))
    for repeat, ae in enumerate(aes, 1):
        w.save(
            "logs", "adverse_event", _ae_values(ae, known_until, sae_criteria=True), repeat=repeat
        )
    medications: list[tuple[tuple[str, str, str, int], date, date | None]] = [
        (medication, consent_on - timedelta(days=rng.randint(60, 2000)), None)
        for medication in rng.sample(BACKGROUND_MEDICATIONS, rng.choice([0, 1, 1, 2, 3]))
    ]
    for ae in aes:
        if ae.term in AE_MEDICATIONS and ae.grade >= 2:
            medications.append((AE_MEDICATIONS[ae.term], ae.start, ae.end))
    _save_medications(w, "logs", medications, known_until)

    # End of treatment, follow-up, death or withdrawal.
    if eot_day is None or not cycles:
        return
    last_dose = max(
        (day for _n, day, c in cycles if c["treatment"]["adm_given"] == 1), default=cycles[0][1]
    )
    if eot_reason == 5:
        w.save(
            "end_of_treatment",
            "end_of_treatment",
            {
                "eot_date": eot_day,
                "last_dose_date": last_dose,
                "eot_reason": 5,
            },
        )
        _phase3_death(w, rng, death_day, occurrence=1, last_day=last_day)
        return
    off_reason = {
        1: OffTreatmentReason.PROGRESSION,
        2: OffTreatmentReason.TOXICITY,
        3: OffTreatmentReason.PATIENT_DECISION,
    }[eot_reason or 1]
    subject_change_treatment(
        actor=actor, subject=w.subject, status="off_treatment", on=eot_day, reason=off_reason
    )
    w.refresh()
    safety_day = eot_day + timedelta(days=30 + rng.randint(-5, 6))
    if safety_day < death_day and safety_day <= last_day - timedelta(days=rng.randint(0, 12)):
        w.visit("end_of_treatment", safety_day)
        w.save(
            "end_of_treatment",
            "end_of_treatment",
            {
                "eot_date": eot_day,
                "last_dose_date": last_dose,
                "eot_reason": eot_reason,
            },
        )
        w.save("end_of_treatment", "ecog", {"ecog_ps": min(3, ecog + rng.choice([0, 1, 1]))})
        w.save(
            "end_of_treatment",
            "vital_signs",
            _phase3_vitals(rng, current_weight * 0.98, height=None, hypertensive=hypertensive),
        )
        w.save(
            "end_of_treatment",
            "laboratory",
            _phase3_lab(
                rng,
                safety_day,
                sex=sex,
                age=age,
                weight=current_weight * 0.98,
                site=patient.site,
                baseline=False,
                arm_effect=False,
            ),
        )
    leaves = rng.random()
    occurrence = 1
    new_therapy_told = False
    while True:
        due = eot_day + timedelta(days=91 * occurrence)
        day = due + timedelta(days=rng.randint(-10, 12))
        if death_day <= day:
            break
        if day > last_day or ((last_day - day).days < ENTRY_LAG_DAYS and rng.random() < 0.5):
            break
        if eot_reason == 1 and leaves < 0.03 and occurrence == 2:
            # Withdrawal of consent to follow-up: the end-of-study form first, since nothing
            # may be entered once the withdrawal is recorded.
            w.save(
                "end_of_study",
                "end_of_study",
                {
                    "eos_date": day,
                    "eos_reason": 3,
                    "unblinded": 0,
                },
            )
            consent_withdraw(
                actor=actor,
                subject=w.subject,
                kind=WithdrawalKind.FOLLOW_UP,
                withdrawn_on=day,
                reason="The patient no longer wishes to be followed in the study",
            )
            w.refresh()
            break
        if eot_reason == 1 and leaves > 0.97 and occurrence == 3:
            subject_change_status(
                actor=actor,
                subject=w.subject,
                status=StudyStatus.LOST_TO_FOLLOW_UP,
                on=day,
                reason="No answer from the patient or the GP to calls and letters",
            )
            w.refresh()
            break
        if rng.random() < 0.06:
            occurrence += 1  # a follow-up visit that never took place: overdue in the schedule
            continue
        news = day
        if rng.random() < 0.3:
            # A call to the GP between visits.
            news_record(
                actor=actor,
                subject=w.subject,
                news_on=day - timedelta(days=40),
                source="Telephone call with the general practitioner",
            )
        w.visit("follow_up", day, occurrence=occurrence)
        tells = eot_reason == 1 and not new_therapy_told
        w.save(
            "follow_up",
            "survival",
            {
                "surv_status": 1,
                "last_news_date": news,
                "new_therapy": 1 if tells else 0,
                "new_therapy_date": eot_day + timedelta(days=rng.randint(14, 40))
                if tells
                else None,
                "new_therapy_desc": rng.choice(
                    ["FOLFIRI + aflibercept", "Trifluridine/tipiracil + bevacizumab", "Regorafenib"]
                )
                if tells
                else None,
            },
            occurrence=occurrence,
        )
        new_therapy_told = new_therapy_told or tells
        occurrence += 1
    if w.subject.study_status == StudyStatus.IN_FOLLOW_UP:
        _phase3_death(w, rng, death_day, occurrence=occurrence, last_day=last_day)


def _phase3_death(
    w: _Writer, rng: random.Random, death_day: date, *, occurrence: int, last_day: date
) -> None:
    """Record a death once the site learns of it (a few days to weeks later).

    The site hears of it by a call or a letter: no visit, and nothing dated after the death."""
    told = death_day + timedelta(days=rng.randint(2, 25))
    if told > last_day:
        return
    w.save(
        "follow_up",
        "survival",
        {
            "surv_status": 2,
            "last_news_date": death_day,
            "death_date": death_day,
            "death_cause": rng.choices([1, 3, 9], [0.9, 0.05, 0.05])[0],
        },
        occurrence=occurrence,
    )
    w.save("end_of_study", "end_of_study", {"eos_date": death_day, "eos_reason": 2, "unblinded": 0})
    subject_change_status(
        actor=w.actor, subject=w.subject, status=StudyStatus.DECEASED, on=death_day
    )
    w.refresh()


# --- ACC-209 -----------------------------------------------------------------------------------


def _phase2_plan(count: int) -> list[_Phase3Patient]:
    rng = random.Random(f"{SEED}:{PHASE2}")
    first = min(count, PHASE2_STAGE1_SIZE)
    dates = _spread(rng, *PHASE2_STAGE1, first) + _spread(rng, *PHASE2_STAGE2, count - first)
    sites = _site_plan(rng, PHASE2_SITES, count)
    return [
        _Phase3Patient(number, code, day, random.Random(f"{SEED}:{PHASE2}:{number}"))
        for number, (code, day) in enumerate(zip(sites, dates, strict=True), 1)
    ]


def _phase2_patient(  # noqa: C901 (a patient's story, as _phase3_patient)
    patient: _Phase3Patient,
    *,
    study: Study,
    site: StudySite,
    actor: User,
    summary: StudyPatients,
    last_day: date,
) -> None:
    rng = patient.rng
    inclusion = patient.included_on
    sex = rng.choice([1, 2, 2])  # adenoid cystic carcinoma: slightly more women
    age = int(_gauss(rng, 56, 12, 24, 82))
    weight = round(_gauss(rng, 72 if sex == 1 else 63, 11, 42, 120), 1)
    ecog = 0 if rng.random() < 0.6 else 1
    consent_on = inclusion - timedelta(days=rng.randint(5, 24))
    progression_on = consent_on - timedelta(days=rng.randint(20, 170))
    diagnosis = progression_on - timedelta(days=rng.randint(700, 3600))
    lung = rng.random() < 0.8
    others = {s for s, p in ((2, 0.2), (3, 0.2), (5, 0.3)) if rng.random() < p}
    met_sites = sorted(({1} if lung else set()) | others or {1})
    lesions = [
        _Lesion(rng.choice(met_sites), False, rng.randint(10, 45))
        for _ in range(rng.choice([1, 2, 2, 3, 4]))
    ]
    biobank = rng.random() < 0.8  # optional biobank consent
    subject = subject_include(
        actor=actor,
        study=study,
        site=site,
        included_on=inclusion,
        eligibility=_as_json(
            {
                "screening.age": age,
                "screening.incl_histology": 1,
                "screening.incl_recurrent": 1,
                "screening.progression_date": progression_on,
                "screening.consent_date": consent_on,
                "screening.bl_tl_diam": [x.diameter for x in lesions],
                "screening.ecog_ps": ecog,
                "screening.incl_organ_function": 1,
                "screening.incl_social_security": 1,
                "screening.excl_prior_inhibitor": 0,
                "screening.excl_brain_mets": 0,
                "screening.excl_qtc": 0,
                "screening.excl_pregnancy": 0,
                "screening.excl_legal_protection": 0,
            }
        ),
        consent=ConsentGiven(
            form_version="v1.1 2025-01-20", consented_on=consent_on, biobank=biobank
        ),
        sex=Sex.MALE if sex == 1 else Sex.FEMALE,
        age=age,
        screening_number=f"AC{patient.number:03d}",
        casebook=False,  # the generator writes every casebook form itself, just below
    )
    w = _Writer(actor, subject, summary, last_day)
    w.visit("screening", consent_on + timedelta(days=rng.randint(0, (inclusion - consent_on).days)))
    w.save(
        "screening",
        "consent",
        {
            "consent_date": consent_on,
            "consent_version": "v1.1 2025-01-20",
            "biobank_consent": int(biobank),
        },
    )
    w.save(
        "screening",
        "eligibility",
        {
            **dict.fromkeys(PHASE2_INCLUSION_ITEMS, 1),
            **dict.fromkeys(PHASE2_EXCLUSION_ITEMS, 0),
            "elig_met": 1,
            "inclusion_date": inclusion,
        },
    )
    w.save(
        "screening",
        "demographics",
        {
            "sex": sex,
            "age": age,
            "weight": weight,
            "ecog_ps": ecog,
            "diag_date": diagnosis,
            "primary_site": rng.choices([1, 2, 4, 5, 9], [0.3, 0.15, 0.35, 0.15, 0.05])[0],
            "histo_pattern": rng.choices([1, 2, 9], [0.65, 0.25, 0.1])[0],
            "myb_fusion": Missing("ND") if rng.random() < 0.3 else int(rng.random() < 0.6),
            "met_sites": met_sites,
            "progression_date": progression_on,
            "prior_lines": rng.choices([0, 1, 2], [0.6, 0.3, 0.1])[0],
            "prior_radiotherapy": int(rng.random() < 0.7),
        },
    )
    w.save(
        "screening",
        "tumour_baseline",
        {"bl_scan_date": inclusion - timedelta(days=rng.randint(2, 27)), "bl_method": 1},
        rows={
            "bl_targets": {
                row: {"bl_tl_site": x.site, "bl_tl_node": 0, "bl_tl_diam": x.diameter}
                for row, x in enumerate(lesions, 1)
            }
        },
    )

    responder = rng.random() < 0.2
    progression_day = inclusion + timedelta(days=_exp_days(rng, 300 if responder else 200))
    death_day = progression_day + timedelta(days=_exp_days(rng, 700))
    sum0 = sum(x.diameter for x in lesions)

    # Imaging every 6 weeks from inclusion; a response is confirmed 4 to 6 weeks later.
    assessments: list[tuple[int, date, bool]] = []
    progressed_on = None
    k = 1
    while True:
        day = inclusion + timedelta(days=42 * k + rng.randint(-4, 4))
        if day > last_day or day >= death_day:
            break
        assessments.append((k, day, day >= progression_day))
        if day >= progression_day:
            progressed_on = day
            break
        k += 1
    eot_day = progressed_on + timedelta(days=rng.randint(1, 7)) if progressed_on else None
    eot_reason = 1
    if eot_day is not None and eot_day > last_day:
        eot_day = None

    cycles: list[tuple[int, date]] = []
    day, n = inclusion + timedelta(days=rng.randint(0, 2)), 1
    while day <= last_day and (eot_day is None or day < eot_day) and day < death_day:
        cycles.append((n, day))
        day, n = day + timedelta(days=21 + rng.choice([0] * 6 + [1, 2, 5])), n + 1
    if eot_day is None:
        while cycles and (last_day - cycles[-1][1]).days < ENTRY_LAG_DAYS and rng.random() < 0.5:
            cycles.pop()
    if cycles:
        subject_change_treatment(
            actor=actor, subject=w.subject, status="on_treatment", on=cycles[0][1]
        )
        w.refresh()
    level, reduce_now = 1, False
    aes: list[_AdverseEvent] = []
    for n, day in cycles:
        tablets = {1: 3, 2: 2, 3: 1}[level]
        reduced, reduce_now = reduce_now, False
        interrupted = rng.random() < 0.1
        pause = rng.randint(2, 7) if interrupted else 0
        dispensed = tablets * 21 + tablets * 3  # three days' spare
        taken = tablets * (21 - pause) - (rng.randint(0, 3) if rng.random() < 0.2 else 0)
        if rng.random() < 0.2:
            term = rng.choices(
                [t for t, _w in KINASE_INHIBITOR_AES], [w for _t, w in KINASE_INHIBITOR_AES]
            )[0]
            grade = rng.choices([1, 2, 3], [0.55, 0.35, 0.1])[0]
            start = day + timedelta(days=rng.randint(2, 18))
            if start <= last_day and start < death_day:
                action = 1
                if grade == 3 and level < 3:
                    level, reduce_now, action = level + 1, True, 2  # from the next cycle
                aes.append(
                    _AdverseEvent(
                        term,
                        grade,
                        start,
                        start + timedelta(days=rng.randint(5, 60)),
                        grade == 3 and rng.random() < 0.3,
                        rng.choice([3, 4, 5]),
                        action,
                    )
                )
        w.visit("cycle", day, occurrence=n)
        w.save(
            "cycle",
            "treatment",
            {
                "cycle_start": day,
                "dose_level": {3: 1, 2: 2, 1: 3}[tablets],
                "dose_reduced": int(reduced),
                "reduction_reason": aes[-1].term if reduced and aes else None,
                "interrupted": int(interrupted),
                "interruption_days": pause if interrupted else None,
                "tablets_dispensed": dispensed,
                "tablets_returned": max(0, dispensed - taken),
            },
            occurrence=n,
        )
    for k, day, progressing in assessments:
        fraction = (0.62 if responder and k >= 2 else 0.97) if not progressing else 1.0
        diameters = _recist(rng, lesions, fraction, progressing=progressing)
        total = sum(diameters)
        change = 100 * (total - sum0) / sum0
        target = 4 if progressing else (2 if change <= -30 else 3)
        overall = target
        w.visit("tumour_assessment", day, occurrence=k)
        w.save(
            "tumour_assessment",
            "tumour_assessment",
            {
                "ta_date": day,
                "ta_method": 1,
                "target_resp": target,
                "new_lesions": 0,
                "overall_resp": overall,
                "confirms_response": (1 if k > 2 else 0) if overall in (1, 2) else None,
            },
            occurrence=k,
            rows={
                "targets": {
                    row: {"tl_site": x.site, "tl_node": 0, "tl_diam": d}
                    for row, (x, d) in enumerate(zip(lesions, diameters, strict=True), 1)
                }
            },
        )
    for repeat, ae in enumerate(aes, 1):
        w.save(
            "ae_log",
            "adverse_event",
            _ae_values(ae, min(last_day, death_day - timedelta(days=1)), sae_criteria=False),
            repeat=repeat,
        )
    if eot_day is None or not cycles:
        return
    subject_change_treatment(
        actor=actor,
        subject=w.subject,
        status="off_treatment",
        on=eot_day,
        reason=OffTreatmentReason.PROGRESSION,
    )
    w.refresh()
    safety_day = eot_day + timedelta(days=30 + rng.randint(-4, 5))
    if safety_day <= last_day and safety_day < death_day:
        w.visit("end_of_treatment", safety_day)
        w.save(
            "end_of_treatment",
            "end_of_treatment",
            {
                "last_dose_date": min(eot_day, cycles[-1][1] + timedelta(days=20)),
                "eot_reason": eot_reason,
                "eot_ecog": min(3, ecog + rng.choice([0, 1])),
            },
        )
    occurrence = 1
    while True:
        day = eot_day + timedelta(days=91 * occurrence + rng.randint(-10, 10))
        if day > last_day or day >= death_day:
            break
        w.visit("follow_up", day, occurrence=occurrence)
        w.save(
            "follow_up",
            "follow_up",
            {
                "surv_status": 1,
                "last_news_date": day,
                "new_therapy": int(occurrence == 1),
                "new_therapy_date": eot_day + timedelta(days=rng.randint(20, 60))
                if occurrence == 1
                else None,
            },
            occurrence=occurrence,
        )
        if occurrence == 4:
            # One year of follow-up after treatment: the protocol's follow-up is over.
            w.save("end_of_study", "end_of_study", {"eos_date": day, "eos_reason": 1})
            subject_change_status(
                actor=actor, subject=w.subject, status=StudyStatus.COMPLETED, on=day
            )
            w.refresh()
            break
        occurrence += 1
    if w.subject.study_status == StudyStatus.IN_FOLLOW_UP:
        told = death_day + timedelta(days=rng.randint(3, 30))
        if told <= last_day:  # by a call or a letter: no visit, nothing dated after the death
            w.save(
                "follow_up",
                "follow_up",
                {
                    "surv_status": 2,
                    "last_news_date": death_day,
                    "death_date": death_day,
                    "death_cause": 1,
                },
                occurrence=occurrence,
            )
            w.save("end_of_study", "end_of_study", {"eos_date": death_day, "eos_reason": 2})
            subject_change_status(
                actor=actor, subject=w.subject, status=StudyStatus.DECEASED, on=death_day
            )
            w.refresh()


# --- screening log -----------------------------------------------------------------------------

PHASE3_NOT_INCLUDED = (
    ("Progression during induction chemotherapy", 6),
    ("ECOG performance status 2", 3),
    ("MSI-H / dMMR tumour", 2),
    ("Creatinine clearance below 50 mL/min", 2),
    ("Uncontrolled hypertension", 1),
    ("Patient declined to take part", 3),
    ("Induction shorter than 16 weeks", 2),
)
PHASE2_NOT_INCLUDED = (
    ("No documented progression within 6 months", 3),
    ("No measurable lesion (lung nodules under 10 mm)", 3),
    ("QTcF above 470 ms", 1),
    ("Patient declined to take part", 1),
)


def _screening_log(
    study: Study,
    sites: dict[str, StudySite],
    staff: dict[str, User],
    *,
    prefix: str,
    count: int,
    reasons: tuple[tuple[str, int], ...],
    shares: tuple[tuple[str, float], ...],
    period: tuple[date, date],
    last_day: date,
    summary: StudyPatients,
) -> None:
    rng = random.Random(f"{SEED}:{study.identifier}:screening-log")
    codes = _site_plan(rng, shares, count)
    days = _spread(rng, *period, count)
    for number, (code, day) in enumerate(zip(codes, days, strict=True), 1):
        reason = rng.choices([r for r, _w in reasons], [w for _r, w in reasons])[0]
        age, sex = int(_gauss(rng, 64, 11, 25, 88)), rng.choice([Sex.MALE, Sex.FEMALE])
        screening_number = f"{prefix}{number:03d}"
        site = sites[code]
        if day > last_day or day < (site.activated_on or day):
            continue
        if ScreeningEntry.objects.filter(site=site, screening_number=screening_number).exists():
            continue
        screening_entry_add(
            actor=staff[code],
            study=study,
            site=site,
            screened_on=day,
            age=age,
            sex=sex,
            reason_not_included=reason,
            screening_number=screening_number,
        )
        summary.screening_log_added += 1


# --- entry point ------------------------------------------------------------------------------


def demo_patients_load(
    *,
    actor: SystemActor,
    progress: Progress | None = None,
    phase3: int = 240,
    phase2: int = 29,
) -> list[StudyPatients]:
    """Fill the demo studies with synthetic patients up to yesterday; return what each holds.

    ``phase3`` and ``phase2`` are the number of patients planned in MAINTAIN-CRC and ACC-209
    over the whole demo calendar (those planned after yesterday are not there yet).
    """
    studies = {s.identifier: s for s in Study.objects.filter(identifier__in=[PHASE3, PHASE2])}
    missing = {PHASE3, PHASE2} - set(studies)
    if missing:
        raise ValueError(f"Load the demo studies first ({', '.join(sorted(missing))}).")
    demo_site_staff_load(actor=actor, studies=list(studies.values()))
    staff = {code: User.objects.get(username=name) for code, name in SITE_STAFF.items()}
    last_day = utc_today() - timedelta(days=1)
    results = []
    for identifier, planned in ((PHASE3, phase3), (PHASE2, phase2)):
        study = studies[identifier]
        sites = {site.code: site for site in StudySite.objects.filter(study=study)}
        summary = StudyPatients(identifier, planned)
        plan = _phase3_plan(planned) if identifier == PHASE3 else _phase2_plan(planned)
        prefix = "MC" if identifier == PHASE3 else "AC"
        taken = set(
            Subject.objects.filter(study=study, screening_number__startswith=prefix).values_list(
                "screening_number", flat=True
            )
        )
        for done, patient in enumerate(plan, 1):
            number = (
                f"{prefix}{patient.number:04d}" if prefix == "MC" else f"AC{patient.number:03d}"
            )
            site = sites[patient.site]
            if number in taken:
                summary.already_there += 1
            elif patient.included_on > last_day - timedelta(days=2):
                summary.not_yet += 1
            else:
                # One patient, one transaction: an interrupted run leaves whole patients only.
                with transaction.atomic():
                    if identifier == PHASE3:
                        _phase3_patient(
                            patient,
                            study=study,
                            site=site,
                            actor=staff[patient.site],
                            summary=summary,
                            last_day=last_day,
                            rando_number=1000 + patient.number,
                        )
                    else:
                        _phase2_patient(
                            patient,
                            study=study,
                            site=site,
                            actor=staff[patient.site],
                            summary=summary,
                            last_day=last_day,
                        )
                summary.added += 1
            if progress is not None:
                progress(identifier, done, len(plan))
        if identifier == PHASE3:
            _screening_log(
                study,
                sites,
                staff,
                prefix="MS",
                count=max(1, planned // 4),
                reasons=PHASE3_NOT_INCLUDED,
                shares=PHASE3_SITES,
                period=(date(2025, 2, 3), PHASE3_ACCRUAL_ENDS),
                last_day=last_day,
                summary=summary,
            )
        else:
            _screening_log(
                study,
                sites,
                staff,
                prefix="AS",
                count=max(1, planned // 4),
                reasons=PHASE2_NOT_INCLUDED,
                shares=PHASE2_SITES,
                period=(PHASE2_STAGE1[0], PHASE2_STAGE2[1]),
                last_day=last_day,
                summary=summary,
            )
        summary.statuses = Counter(
            Subject.objects.filter(study=study).values_list("study_status", flat=True)
        )
        results.append(summary)
    return results
