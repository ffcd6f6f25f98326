"""A study at scale for the benchmarks: SCALE-CRC, MAINTAIN-CRC's design under another name, with
N synthetic patients whose forms go through the bulk path.

`carnet demo --scale N` loads it, a batch of patients per transaction, in two passes per batch.
The first includes each patient with `subject_include` (the real service: identifier, consent,
eligibility, audit) and writes their forms (screening, baseline and 13 to 16 treatment cycles,
about 520 values, from the demo generator's laboratory and vital-sign panels) with
`forms_import`: N = 10,000 gives over 5 million values, each with its audit event, check results
and automatic queries. The second (`demo.scale_outcomes`) randomises every patient of the batch
without an allocation through `subject_randomise` and writes what the DSMB report reads:
tumour assessments, adverse events, end of treatment, follow-up and death, with an arm effect.
No visits are recorded. A second run adds only the patients missing (known by their screening
number) and gives their randomisation and outcomes to those without an allocation: an
installation loaded before the outcomes existed is topped up as if built in one go.
"""

# ruff: noqa: S311 (synthetic data wants a seeded, reproducible generator, not secrecy)
from __future__ import annotations

import random
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from django.db import transaction

from carnet.accounts.models import StudySite, User
from carnet.audit.services import SystemActor
from carnet.capture.bulk import FormRecord, forms_import
from carnet.core.clock import utc_today
from carnet.demo.accounts import demo_site_staff_load
from carnet.demo.maintain_crc import (
    PHASE3_EXCLUSION_ITEMS,
    PHASE3_INCLUSION_ITEMS,
    PHASE3_SITES,
    _lab_panel,
    _vitals,
)
from carnet.demo.patients import SITE_STAFF
from carnet.demo.scale_outcomes import outcomes_add
from carnet.demo.studies import _demo_sites_and_roles, examples_dir
from carnet.demo.synthetic import SEED, as_json, gauss
from carnet.laboratory.services import lab_file_load
from carnet.studies.definition import study_file_read
from carnet.studies.models import Study, StudyMode
from carnet.studies.services import study_load, study_mode_change, study_publish
from carnet.subjects.models import Sex, Subject
from carnet.subjects.services import ConsentGiven, subject_include

SCALE_STUDY = "SCALE-CRC"
SCALE_REASON = "Synthetic patients of the scale study (benchmarks)"
# Patients per transaction: one bulk import per site of the batch.
SCALE_BATCH = 100
# The first inclusion: every demo site is activated by then.
SCALE_FROM = date(2025, 3, 10)
# Called with the patients done and the patients asked for.
Progress = Callable[[int, int], None]


@dataclass
class ScalePatients:
    """What a scale run did."""

    asked: int
    added: int = 0
    already_there: int = 0
    values: int = 0
    randomised: int = 0  # patients given their allocation and outcomes by this run


def scale_study_load(*, actor: SystemActor) -> Study:
    """Load SCALE-CRC (MAINTAIN-CRC's file under another identifier), published, in production,
    at the demo sites with the demo roles; a second run changes nothing."""
    text = (examples_dir() / "maintain-crc.yaml").read_text(encoding="utf-8")
    text = text.replace("identifier: MAINTAIN-CRC", f"identifier: {SCALE_STUDY}", 1)
    text = text.replace("acronym: MAINTAIN-CRC", f"acronym: {SCALE_STUDY}", 1)
    with tempfile.TemporaryDirectory(prefix="carnet-scale-") as folder:
        path = Path(folder) / "scale-crc.yaml"
        path.write_text(text, encoding="utf-8")
        study_file = study_file_read(path)
    with transaction.atomic():
        outcome = study_load(actor=actor, study_file=study_file, source_name="scale-crc.yaml")
        study = outcome.study
        if outcome.version.status == "draft":
            study_publish(actor=actor, study=study)
            study.refresh_from_db()
        if study.mode == StudyMode.DESIGN:
            study = study_mode_change(actor=actor, study=study, mode=StudyMode.PRODUCTION)
        _demo_sites_and_roles(actor=actor, study=study)
        demo_site_staff_load(actor=actor, studies=[study])
        # MAINTAIN-CRC's normal ranges: the report grades the laboratory values (CTCAE shift
        # tables). Loading the same file again changes nothing.
        ranges = examples_dir().parent / "laboratory" / "maintain-crc-ranges.yaml"
        if ranges.is_file():
            lab_file_load(
                actor=actor, study=study, content=ranges.read_bytes(), file_name=ranges.name
            )
    return study


def scale_patients_load(
    *,
    actor: SystemActor,
    count: int,
    progress: Progress | None = None,
    outcomes: bool = True,
) -> ScalePatients:
    """Give SCALE-CRC ``count`` synthetic patients (those missing), a batch per transaction,
    and, with ``outcomes``, their randomisation and what follows to those without an allocation
    (patients written before the outcomes existed included: `demo.scale_outcomes`)."""
    study = scale_study_load(actor=actor)
    sites = {site.code: site for site in StudySite.objects.filter(study=study)}
    staff = {code: User.objects.get(username=name) for code, name in SITE_STAFF.items()}
    taken = set(
        Subject.objects.filter(study=study, screening_number__startswith="SC").values_list(
            "screening_number", flat=True
        )
    )
    summary = ScalePatients(count)
    last_day = utc_today() - timedelta(days=1)
    # The last inclusion leaves room for the cycles before yesterday.
    span = max(1, (last_day - timedelta(days=240) - SCALE_FROM).days)
    rng = random.Random(f"{SEED}:{SCALE_STUDY}")
    codes = [code for code, _share in PHASE3_SITES]
    weights = [share for _code, share in PHASE3_SITES]
    numbers = list(range(1, count + 1))
    for start in range(0, count, SCALE_BATCH):
        batch = []
        for number in numbers[start : start + SCALE_BATCH]:
            site = rng.choices(codes, weights)[0]
            included_on = SCALE_FROM + timedelta(days=rng.randrange(span))
            if f"SC{number:06d}" in taken:
                summary.already_there += 1
            else:
                batch.append((number, site, included_on))
        with transaction.atomic():
            records: dict[str, list[FormRecord]] = {}
            for number, code, included_on in batch:
                records.setdefault(code, []).extend(
                    _patient(
                        number,
                        study=study,
                        site=sites[code],
                        actor=staff[code],
                        included_on=included_on,
                        last_day=last_day,
                    )
                )
            for code, site_records in sorted(records.items()):
                outcome = forms_import(
                    actor=staff[code], study=study, records=site_records, reason=SCALE_REASON
                )
                summary.values += outcome.values_changed
            if outcomes:
                numbers_here = [f"SC{n:06d}" for n in numbers[start : start + SCALE_BATCH]]
                added = outcomes_add(
                    actor=actor,
                    study=study,
                    subjects=list(
                        Subject.objects.filter(
                            study=study, screening_number__in=numbers_here
                        ).select_related("site__centre", "study")
                    ),
                    staff=staff,
                    last_day=last_day,
                )
                summary.values += added.values
                summary.randomised += added.randomised
        summary.added += len(batch)
        if progress is not None:
            progress(min(count, start + SCALE_BATCH), count)
    return summary


def _patient(
    number: int,
    *,
    study: Study,
    site: StudySite,
    actor: User,
    included_on: date,
    last_day: date,
) -> list[FormRecord]:
    """Include one patient and return their forms, to import."""
    rng = random.Random(f"{SEED}:{SCALE_STUDY}:{number}")
    sex = rng.choice([1, 1, 1, 2, 2])
    age = int(gauss(rng, 63, 8, 35, 80))
    height = int(gauss(rng, 174 if sex == 1 else 162, 7, 150, 195))
    weight = round(gauss(rng, 24.5, 3, 19, 32) * (height / 100) ** 2, 1)
    ecog = 0 if rng.random() < 0.58 else 1
    consent_on = included_on - timedelta(days=rng.randint(4, 21))
    induction_end = included_on - timedelta(days=rng.randint(14, 46))
    induction_start = induction_end - timedelta(days=rng.randint(100, 166))
    lab = _lab_panel(
        rng,
        included_on - timedelta(days=2),
        sex=sex,
        age=age,
        weight=weight,
        site=site.code,
        baseline=True,
        arm_effect=False,
    )
    vitals = _vitals(rng, weight, height=height, hypertensive=False)
    vitals["sbp"], vitals["dbp"] = min(vitals["sbp"], 150), min(vitals["dbp"], 92)
    clearance = round((140 - age) * weight * (1.23 if sex == 1 else 1.04) / lab["creatinine"])
    eligibility: dict[str, Any] = {
        "screening.age": age,
        "screening.incl_histology": 1,
        "screening.incl_metastatic": 1,
        "screening.induction_start": induction_start,
        "screening.induction_end": induction_end,
        "screening.induction_resp": 2,
        "baseline.ecog_ps": ecog,
        "baseline.neutrophils": lab["neutrophils"],
        "baseline.platelets": lab["platelets"],
        "baseline.haemoglobin": lab["haemoglobin"],
        "baseline.creat_clearance": clearance,
        "baseline.bilirubin": lab["bilirubin"],
        "baseline.bili_uln": lab["bili_uln"],
        "baseline.alt": lab["alt"],
        "baseline.alt_uln": lab["alt_uln"],
        "baseline.ast": lab["ast"],
        "baseline.ast_uln": lab["ast_uln"],
        "screening.met_sites": [1],
        "screening.incl_social_security": 1,
        "screening.msi_status": 1,
        "screening.excl_brain_mets": 0,
        "screening.excl_other_cancer": 0,
        "baseline.sbp": vitals["sbp"],
        "baseline.dbp": vitals["dbp"],
        "screening.excl_hypertension": 0,
        "baseline.proteinuria": 0,
        "screening.excl_bleeding": 0,
        "screening.excl_pregnancy": 0,
        "screening.excl_other_trial": 0,
        "screening.excl_legal_protection": 0,
    }
    subject = subject_include(
        actor=actor,
        study=study,
        site=site,
        included_on=included_on,
        eligibility=as_json(eligibility),
        consent=ConsentGiven(form_version="v2.0 2024-11-04", consented_on=consent_on),
        sex=Sex.MALE if sex == 1 else Sex.FEMALE,
        age=age,
        screening_number=f"SC{number:06d}",
        casebook=False,
    )
    forms: list[tuple[str, int, str, dict[str, Any], dict[str, Any]]] = [
        (
            "screening",
            1,
            "consent",
            {"consent_date": consent_on, "consent_version": "v2.0 2024-11-04"}
            | {"biobank_consent": 0},
            {},
        ),
        (
            "screening",
            1,
            "eligibility",
            dict.fromkeys(PHASE3_INCLUSION_ITEMS, 1)
            | dict.fromkeys(PHASE3_EXCLUSION_ITEMS, 0)
            | {"elig_met": 1},
            {},
        ),
        (
            "screening",
            1,
            "demographics",
            {"sex": sex, "age": age} | ({"childbearing": 0} if sex == 2 else {}),
            {},
        ),
        (
            "screening",
            1,
            "disease_history",
            {
                "diag_date": induction_start - timedelta(days=rng.randint(12, 70)),
                "primary_site": rng.choice([1, 2, 3]),
                "primary_resected": int(rng.random() < 0.55),
                "synchronous_mets": 1,
                "met_sites": [1],
                "ras_status": rng.choice([1, 2]),
                "braf_status": 1,
                "msi_status": 1,
                "induction_regimen": 1,
                "induction_biologic": 1,
                "induction_start": induction_start,
                "induction_end": induction_end,
                "induction_cycles": min(20, 1 + (induction_end - induction_start).days // 14),
                "induction_resp": 2,
            },
            {},
        ),
        (
            "screening",
            1,
            "tumour_baseline",
            {"bl_scan_date": included_on - timedelta(days=rng.randint(3, 26)), "bl_method": 1},
            {
                "bl_targets": {
                    row: {"bl_tl_site": 1, "bl_tl_node": 0, "bl_tl_diam": rng.randint(10, 70)}
                    for row in range(1, rng.randint(2, 4))
                }
            },
        ),
        ("baseline", 1, "ecog", {"ecog_ps": ecog}, {}),
        ("baseline", 1, "vital_signs", vitals, {}),
        ("baseline", 1, "laboratory", lab, {}),
    ]
    day = included_on + timedelta(days=rng.randint(0, 3))
    for cycle in range(1, rng.randint(13, 16) + 1):
        if day + timedelta(days=1) > last_day:
            break
        weight = round(weight * gauss(rng, 0.998, 0.01, 0.97, 1.02), 1)
        forms += [
            (
                "cycle",
                cycle,
                "vital_signs",
                _vitals(rng, weight, height=None, hypertensive=False),
                {},
            ),
            (
                "cycle",
                cycle,
                "treatment",
                {
                    "adm_given": 1,
                    "adm_date": day,
                    "kit_number": f"{site.code}{number % 10000:04d}",
                    "dose_level": 1,
                    "adm_dose": round(weight * 8),
                    "cycle_delayed": 0,
                    "dose_reduced": 0,
                },
                {},
            ),
            ("cycle", cycle, "ecog", {"ecog_ps": ecog}, {}),
            (
                "cycle",
                cycle,
                "laboratory",
                _lab_panel(
                    rng,
                    day,
                    sex=sex,
                    age=age,
                    weight=weight,
                    site=site.code,
                    baseline=False,
                    arm_effect=False,
                ),
                {},
            ),
        ]
        day += timedelta(days=14)
    return [
        FormRecord(
            subject=subject,
            event=event,
            occurrence=occurrence,
            form=form,
            values={k: v for k, v in values.items() if v is not None},
            rows=rows,
            complete=True,
            source=f"{subject.screening_number} {event}[{occurrence}].{form}",
            actor=actor,
        )
        for event, occurrence, form, values, rows in forms
    ]
