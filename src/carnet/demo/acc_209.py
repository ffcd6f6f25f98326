"""ACC-209, the demo's Simon two-stage phase II in adenoid cystic carcinoma: its patients' plan
and each patient's story."""

# ruff: noqa: S311 (synthetic data wants a seeded, reproducible generator, not secrecy)
from __future__ import annotations

import random
from datetime import date, timedelta

from carnet.accounts.models import StudySite, User
from carnet.capture.services import Missing
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
    site_plan,
    spread,
)
from carnet.studies.models import Study
from carnet.subjects.models import Sex
from carnet.subjects.services import (
    ConsentGiven,
    subject_change_status,
    subject_change_treatment,
    subject_include,
)
from carnet.subjects.statuses import OffTreatmentReason, StudyStatus

PHASE2 = "ACC-209"


PHASE2_SITES = (("01", 0.3), ("02", 0.25), ("03", 0.45))


# Simon two-stage: stage 1 (10 patients), a pause while they are assessed, then stage 2.
PHASE2_STAGE1 = (date(2025, 3, 20), date(2025, 8, 15))


PHASE2_STAGE2 = (date(2026, 1, 12), date(2026, 10, 20))


PHASE2_STAGE1_SIZE = 10


PHASE2_INCLUSION_ITEMS = (
    "incl_histology", "incl_recurrent", "incl_progression", "incl_measurable",
    "incl_organ_function", "incl_social_security",
)  # fmt: skip


PHASE2_EXCLUSION_ITEMS = (
    "excl_prior_inhibitor", "excl_brain_mets", "excl_qtc", "excl_pregnancy",
    "excl_legal_protection",
)  # fmt: skip


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


PHASE2_NOT_INCLUDED = (
    ("No documented progression within 6 months", 3),
    ("No measurable lesion (lung nodules under 10 mm)", 3),
    ("QTcF above 470 ms", 1),
    ("Patient declined to take part", 1),
)


def patients_plan(count: int) -> list[PlannedPatient]:
    rng = random.Random(f"{SEED}:{PHASE2}")
    first = min(count, PHASE2_STAGE1_SIZE)
    dates = spread(rng, *PHASE2_STAGE1, first) + spread(rng, *PHASE2_STAGE2, count - first)
    sites = site_plan(rng, PHASE2_SITES, count)
    return [
        PlannedPatient(number, code, day, random.Random(f"{SEED}:{PHASE2}:{number}"))
        for number, (code, day) in enumerate(zip(sites, dates, strict=True), 1)
    ]


def patient_enter(  # noqa: C901 (a patient's story, as maintain_crc.patient_enter)
    patient: PlannedPatient,
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
    age = int(gauss(rng, 56, 12, 24, 82))
    weight = round(gauss(rng, 72 if sex == 1 else 63, 11, 42, 120), 1)
    ecog = 0 if rng.random() < 0.6 else 1
    consent_on = inclusion - timedelta(days=rng.randint(5, 24))
    progression_on = consent_on - timedelta(days=rng.randint(20, 170))
    diagnosis = progression_on - timedelta(days=rng.randint(700, 3600))
    lung = rng.random() < 0.8
    others = {s for s, p in ((2, 0.2), (3, 0.2), (5, 0.3)) if rng.random() < p}
    met_sites = sorted(({1} if lung else set()) | others or {1})
    lesions = [
        Lesion(rng.choice(met_sites), False, rng.randint(10, 45))
        for _ in range(rng.choice([1, 2, 2, 3, 4]))
    ]
    biobank = rng.random() < 0.8  # optional biobank consent
    subject = subject_include(
        actor=actor,
        study=study,
        site=site,
        included_on=inclusion,
        eligibility=as_json(
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
    w = Writer(actor, subject, summary, last_day)
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
    progression_day = inclusion + timedelta(days=exp_days(rng, 300 if responder else 200))
    death_day = progression_day + timedelta(days=exp_days(rng, 700))
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
        w.flush()
        subject_change_treatment(
            actor=actor, subject=w.subject, status="on_treatment", on=cycles[0][1]
        )
        w.refresh()
    level, reduce_now = 1, False
    aes: list[AdverseEvent] = []
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
                    AdverseEvent(
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
        diameters = recist(rng, lesions, fraction, progressing=progressing)
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
            ae_values(ae, min(last_day, death_day - timedelta(days=1)), sae_criteria=False),
            repeat=repeat,
        )
    if eot_day is None or not cycles:
        return
    w.flush()
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
            w.flush()
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
            w.flush()
            subject_change_status(
                actor=actor, subject=w.subject, status=StudyStatus.DECEASED, on=death_day
            )
            w.refresh()
