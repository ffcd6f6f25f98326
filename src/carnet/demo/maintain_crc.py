"""MAINTAIN-CRC, the demo's randomised phase III in metastatic colorectal cancer: its patients'
plan and each patient's story, entered visit by visit."""

# ruff: noqa: S311 (synthetic data wants a seeded, reproducible generator, not secrecy)
from __future__ import annotations

import math
import random
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from carnet.accounts.models import StudySite, User
from carnet.audit.services import SystemActor
from carnet.capture.services import Missing
from carnet.core.clock import utc_now
from carnet.demo import pharmacy as demo_pharmacy
from carnet.demo.synthetic import (
    ENTRY_LAG_DAYS,
    SEED,
    AdverseEvent,
    Lesion,
    PlannedPatient,
    StudyPatients,
    Writer,
    ae_values,
    as_json,
    exp_days,
    gauss,
    recist,
    save_medications,
    site_plan,
    spread,
)
from carnet.randomization.kits import kits_import, kits_in_use
from carnet.randomization.models import Allocation
from carnet.randomization.services import subject_randomise
from carnet.studies.models import Study
from carnet.subjects.environments import environment_written
from carnet.subjects.models import Sex, Subject
from carnet.subjects.services import (
    ConsentGiven,
    consent_withdraw,
    news_record,
    subject_change_status,
    subject_change_treatment,
    subject_include,
)
from carnet.subjects.statuses import OffTreatmentReason, StudyStatus, WithdrawalKind

PHASE3 = "MAINTAIN-CRC"


# Share of inclusions per site: the sponsor's centre recruits most.
PHASE3_SITES = (("01", 0.45), ("02", 0.35), ("03", 0.20))


# Fixed accrual calendar: the last planned inclusion of each study; patients planned after
# yesterday are simply not there yet.
PHASE3_ACCRUAL_ENDS = date(2026, 10, 30)


# The eligibility form of each study: every inclusion criterion Yes, every exclusion No.
PHASE3_INCLUSION_ITEMS = (
    "incl_age", "incl_histology", "incl_metastatic", "incl_induction", "incl_ecog",
    "incl_organ_function", "incl_contraception", "incl_social_security",
)  # fmt: skip


PHASE3_EXCLUSION_ITEMS = (
    "excl_msi", "excl_brain_mets", "excl_other_cancer", "excl_hypertension", "excl_bleeding",
    "excl_pregnancy", "excl_other_trial", "excl_legal_protection",
)  # fmt: skip


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


PHASE3_NOT_INCLUDED = (
    ("Progression during induction chemotherapy", 6),
    ("ECOG performance status 2", 3),
    ("MSI-H / dMMR tumour", 2),
    ("Creatinine clearance below 50 mL/min", 2),
    ("Uncontrolled hypertension", 1),
    ("Patient declined to take part", 3),
    ("Induction shorter than 16 weeks", 2),
)


def patients_plan(count: int) -> list[PlannedPatient]:
    rng = random.Random(f"{SEED}:{PHASE3}")
    sites = site_plan(rng, PHASE3_SITES, count)
    starts = {"01": date(2025, 2, 3), "02": date(2025, 2, 24), "03": date(2025, 3, 31)}
    patients = []
    for code in sorted(set(sites)):
        numbers = [n for n, s in enumerate(sites, 1) if s == code]
        dates = spread(rng, starts[code], PHASE3_ACCRUAL_ENDS, len(numbers))
        for number, day in zip(numbers, dates, strict=True):
            patients.append(
                PlannedPatient(number, code, day, random.Random(f"{SEED}:{PHASE3}:{number}"))
            )
    return sorted(patients, key=lambda p: (p.included_on, p.number))


def _lab_panel(
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
    leukocytes = round(gauss(rng, 6.5, 1.8, 2.2, 14.0), 2)
    neutrophils = round(leukocytes * gauss(rng, 0.6, 0.08, 0.4, 0.78), 2)
    if baseline:
        neutrophils = max(neutrophils, 1.6)
        leukocytes = max(leukocytes, round(neutrophils / 0.7, 2))
    elif low_counts:
        neutrophils = round(rng.uniform(0.5, 0.95), 2)
        leukocytes = round(neutrophils / rng.uniform(0.35, 0.55), 2)
    platelets = int(gauss(rng, 250, 70, 110 if baseline else 40, 600))
    factor = 1.23 if sex == 1 else 1.04
    # At baseline the creatinine allows a clearance of at least 55 mL/min (criterion: 50).
    ceiling = (140 - age) * weight * factor / 55
    creatinine = round(gauss(rng, 78 if sex == 1 else 64, 14, 40, 140))
    if baseline:
        creatinine = min(creatinine, int(ceiling))
    alt_uln, ast_uln = uln[1], uln[2]
    values: dict[str, Any] = {
        "lab_date": on,
        "haemoglobin": round(
            gauss(rng, 12.6 if sex == 1 else 11.8, 1.2, 9.2 if baseline else 7.5, 16.5), 1
        ),
        "leukocytes": leukocytes,
        "neutrophils": neutrophils,
        "platelets": platelets,
        "creatinine": creatinine,
        "bilirubin": round(gauss(rng, 9, 3.5, 3, 1.4 * uln[0]), 1),
        "bili_uln": uln[0],
        "alt": int(gauss(rng, 26, 10, 7, 2.2 * alt_uln)),
        "alt_uln": alt_uln,
        "ast": int(gauss(rng, 27, 9, 9, 2.2 * ast_uln)),
        "ast_uln": ast_uln,
        "alp": int(gauss(rng, 110, 45, 40, 450)),
        "albumin": round(gauss(rng, 38, 4, 24, 48), 1),
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


def _vitals(
    rng: random.Random, weight: float, *, height: int | None, hypertensive: bool
) -> dict[str, Any]:
    sbp = int(gauss(rng, 148 if hypertensive else 128, 12, 95, 175))
    dbp = int(gauss(rng, 88 if hypertensive else 76, 8, 55, 105))
    values: dict[str, Any] = {
        "weight": round(weight, 1),
        "height": height,
        "sbp": sbp,
        "dbp": min(dbp, sbp - 25),
        "heart_rate": int(gauss(rng, 76, 10, 50, 120)),
        "temperature": round(gauss(rng, 36.7, 0.3, 35.8, 38.4), 1),
    }
    if rng.random() < 0.04:
        values["temperature"] = Missing("ND")
    return values


# The demo generator tells each patient's story event by event, as a script reads: split into
# steps it would say less, so it keeps its branches (ruff's complexity limit does not apply).
def patient_enter(  # noqa: C901
    patient: PlannedPatient,
    *,
    study: Study,
    site: StudySite,
    actor: User,
    summary: StudyPatients,
    last_day: date,
    pharmacist: User | None = None,
) -> None:
    """Enter the patient's story; with ``pharmacist`` (kit mode, `demo.pharmacy`), the site's
    pharmacist assigns and dispenses each cycle's kit and the administration form records it."""
    rng = patient.rng
    inclusion = patient.included_on
    sex = rng.choice([1, 1, 1, 2, 2])  # colorectal cancer: about 60% men
    age = int(gauss(rng, 65, 9, 31, 84))
    height = int(gauss(rng, 174 if sex == 1 else 162, 7, 148, 198))
    weight = round(gauss(rng, 24.5, 3.5, 17.5, 34) * (height / 100) ** 2, 1)
    ecog = 0 if rng.random() < 0.58 else 1
    draws = random.Random(rng.getrandbits(64))  # the minimisation's draws: seeded, so replayable
    consent_on = inclusion - timedelta(days=rng.randint(4, 21))
    induction_end = inclusion - timedelta(days=rng.randint(14, 46))
    induction_start = induction_end - timedelta(days=rng.randint(100, 166))
    diagnosis = induction_start - timedelta(days=rng.randint(12, 70))
    liver = rng.random() < 0.7
    others = {s for s, p in ((2, 0.35), (3, 0.3), (4, 0.15), (5, 0.05)) if rng.random() < p}
    met_sites = sorted(({1} if liver else set()) | others or {2})
    baseline_day = max(consent_on, inclusion - timedelta(days=rng.randint(0, 6)))
    baseline_lab = _lab_panel(
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
    baseline_vitals = _vitals(rng, weight, height=height, hypertensive=hypertensive)
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
        eligibility=as_json(eligibility),
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
    w = Writer(actor, subject, summary, last_day)

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
        lesions.append(Lesion(organ, node, rng.randint(15 if node else 10, 70)))
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

    # Baseline, then randomisation on the day of inclusion through the service (minimisation on
    # the site and strat_ecog): the arm it allocates drives the course of the disease below.
    w.visit("baseline", baseline_day)
    strat = ecog if rng.random() > 0.03 else 1 - ecog  # a stratification error now and then
    version = w.save(
        "baseline",
        "randomisation",
        {"rando_date": inclusion, "strat_ecog": strat},
        complete=False,
    )
    w.save("baseline", "ecog", {"ecog_ps": ecog})
    w.save("baseline", "vital_signs", baseline_vitals)
    w.save("baseline", "laboratory", baseline_lab)
    w.flush()
    allocation = _randomise(actor, subject, on=inclusion, draws=draws)
    experimental = allocation.arm == "experimental"
    # The site copies the allocation number from the confirmation into the form, completing it.
    w.save_version(
        "baseline", "randomisation", version, {"rando_number": f"R{allocation.number:04d}"}
    )

    # The course of the disease, unknown to the site until it happens.
    median_pfs = 173 if experimental else 122
    progression_day = inclusion + timedelta(days=exp_days(rng, median_pfs))
    death_day = progression_day + timedelta(days=exp_days(rng, 420))
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
    aes: list[AdverseEvent] = []
    level, delay_next, reduce_next = 1, 0, False
    day, current_weight = c1, weight
    low_counts_next = False
    ae_pool = ANTI_ANGIOGENIC_AES if experimental else PLACEBO_AES
    n = 1
    while day <= last_day and (eot_day is None or day < eot_day) and day < death_day:
        current_weight = round(current_weight * gauss(rng, 0.998, 0.012, 0.96, 1.03), 1)
        given = rng.random() > 0.02
        treatment: dict[str, Any] = {"adm_given": 1 if given else 0}
        if given:
            spare_kit = f"{rng.randint(100000, 999999)}"
            reduced = reduce_next
            treatment |= {
                "adm_date": day,
                # The kit the randomisation gave; the old draw is kept so the story stays the same.
                "kit_number": allocation.kit_number or spare_kit,
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
                    AdverseEvent(
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
        w.flush()
        subject_change_treatment(
            actor=actor, subject=w.subject, status="on_treatment", on=cycles[0][1]
        )
        w.refresh()
    kits = (
        demo_pharmacy.CycleKits(pharmacist=pharmacist, subject=w.subject)
        if pharmacist is not None
        else None
    )
    for n, day, cycle in cycles:
        w.visit("cycle", day, occurrence=n)
        w.save(
            "cycle",
            "vital_signs",
            _vitals(
                rng,
                cycle["weight"],
                height=None,
                hypertensive=hypertensive or (experimental and n > 3),
            ),
            occurrence=n,
        )
        w.save("cycle", "treatment", cycle["treatment"], occurrence=n)
        if kits is not None and cycle["treatment"]["adm_given"] == 1:
            # The assignment reads the visits written and the allocation, not forms: the kit
            # goes into the form kept (its kit_number's place kept) when the kits are written,
            # before the next write (a form not done, which writes the visits kept).
            kits.add(
                occurrence=n,
                on=day,
                dose_mg=cycle["treatment"]["adm_dose"],
                values=w.summary.pending[-1].values,
            )
        if rng.random() < 0.015:
            if kits is not None:
                kits.flush()
            w.not_done("cycle", "ecog", "NOT_PERFORMED", occurrence=n)
        else:
            w.save("cycle", "ecog", {"ecog_ps": min(2, ecog + (rng.random() < 0.08))}, occurrence=n)
        if rng.random() < 0.03:
            if kits is not None:
                kits.flush()
            w.not_done("cycle", "laboratory", "NOT_PERFORMED", occurrence=n)
        else:
            lab = _lab_panel(
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

    if kits is not None:
        kits.flush()

    # Tumour assessments: sums follow a RECIST trajectory, nadir then progression.
    nadir = float(sum0)
    for k, day, progressing in assessments:
        fraction = best + (1 - best) * math.exp(-k) if not progressing else 1.0
        diameters = recist(rng, lesions, fraction, progressing=False)
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
            "logs", "adverse_event", ae_values(ae, known_until, sae_criteria=True), repeat=repeat
        )
    medications: list[tuple[tuple[str, str, str, int], date, date | None]] = [
        (medication, consent_on - timedelta(days=rng.randint(60, 2000)), None)
        for medication in rng.sample(BACKGROUND_MEDICATIONS, rng.choice([0, 1, 1, 2, 3]))
    ]
    for ae in aes:
        if ae.term in AE_MEDICATIONS and ae.grade >= 2:
            medications.append((AE_MEDICATIONS[ae.term], ae.start, ae.end))
    save_medications(w, "logs", medications, known_until)

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
        _death_record(w, rng, death_day, occurrence=1, last_day=last_day)
        return
    off_reason = {
        1: OffTreatmentReason.PROGRESSION,
        2: OffTreatmentReason.TOXICITY,
        3: OffTreatmentReason.PATIENT_DECISION,
    }[eot_reason or 1]
    w.flush()
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
            _vitals(rng, current_weight * 0.98, height=None, hypertensive=hypertensive),
        )
        w.save(
            "end_of_treatment",
            "laboratory",
            _lab_panel(
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
            w.flush()
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
            w.flush()
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
            w.flush()
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
        _death_record(w, rng, death_day, occurrence=occurrence, last_day=last_day)


def _death_record(
    w: Writer, rng: random.Random, death_day: date, *, occurrence: int, last_day: date
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
    w.flush()
    subject_change_status(
        actor=w.actor, subject=w.subject, status=StudyStatus.DECEASED, on=death_day
    )
    w.refresh()


def kits_load(*, actor: SystemActor, study: Study, plan: list[PlannedPatient]) -> int:
    """Import MAINTAIN-CRC's per-site kit list once (as the sponsor's pharmacy would ship it);
    return how many kits were added.

    Each site gets, for each arm, one kit per patient planned there, numbered from the site:
    site 01's kits are 01xxxx. Allocations then give each patient the next kit of the site
    holding the allocated arm (`kit_take`); the kit numbers are seen by the site, the list is not.
    """
    if kits_in_use(study, environment_written(study)):
        return 0
    per_site: dict[str, int] = {}
    for patient in plan:
        per_site[patient.site] = per_site.get(patient.site, 0) + 1
    lines = ["site,number,arm"]
    for code, count in sorted(per_site.items()):
        number = 0
        for arm in ("experimental", "placebo"):
            for _kit in range(count):
                number += 1
                lines.append(f"{code},{code}{number:04d},{arm}")
    content = ("\n".join(lines) + "\n").encode()
    return kits_import(actor=actor, study=study, content=content, file_name="maintain-crc-kits.csv")


def _randomise(actor: User, subject: Subject, *, on: date, draws: random.Random) -> Allocation:
    """Randomise the patient through `subject_randomise` as on the day ``on``; return the
    allocation.

    The demo replays history: the allocation is made at 10:00 at the site on ``on`` and its
    uniform draws come from the patient's seeded generator, both passed to the service, so the
    demo loads the same every time and `carnet randomization verify` replays it from the draws
    recorded.
    """
    moment = datetime.combine(on, time(10), tzinfo=ZoneInfo(subject.site.centre.time_zone))
    # A patient included today, loaded before 10:00, is randomised now (same day, same arm).
    moment = min(moment, utc_now())
    return subject_randomise(actor=actor, subject=subject, random_source=draws.random, at=moment)
