"""Synthetic patients for the demo studies, entered through the real services.

A patient is one transaction and is known by its screening number: a second run, or a run after
an interruption, adds only the patients missing. Nothing is dated today or later.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import date, timedelta

from django.db import transaction

from carnet.accounts.models import StudySite, User
from carnet.audit.services import SystemActor
from carnet.core.clock import utc_today
from carnet.demo import acc_209, maintain_crc
from carnet.demo import pharmacy as demo_pharmacy
from carnet.demo.acc_209 import (
    PHASE2,
    PHASE2_NOT_INCLUDED,
    PHASE2_SITES,
    PHASE2_STAGE1,
    PHASE2_STAGE2,
)
from carnet.demo.accounts import DEMO_SITE_STAFF, demo_site_staff_load
from carnet.demo.biobank import biobank_load
from carnet.demo.maintain_crc import PHASE3, PHASE3_ACCRUAL_ENDS, PHASE3_NOT_INCLUDED, PHASE3_SITES
from carnet.demo.screening import screening_log_fill
from carnet.demo.synthetic import StudyPatients, pending_flush
from carnet.studies.models import Study
from carnet.subjects.models import Subject
from carnet.subjects.scheduling import schedules_planned_once

# The data-entry account of each demo site (site 01's is a DEMO_ACCOUNTS role account).
SITE_STAFF = {"01": "dataentry"} | {f"{n:02d}": name for name, _full, n in DEMO_SITE_STAFF}
# Called after each patient with the study, the patients done and the patients planned.
Progress = Callable[[str, int, int], None]


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
        plan = (
            maintain_crc.patients_plan(planned)
            if identifier == PHASE3
            else acc_209.patients_plan(planned)
        )
        if identifier == PHASE3:
            # Kit mode (design.pharmacy): the pharmacy's kits replace the old per-site kit list.
            pharmacists = demo_pharmacy.pharmacy_load(actor=actor, study=study)
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
                if identifier == PHASE3:
                    demo_pharmacy.stock_ensure(
                        actor=actor,
                        study=study,
                        site=site,
                        pharmacist=pharmacists[site.code],
                        needed=demo_pharmacy.cycles_bound(patient.included_on, last_day),
                    )
                # One patient, one transaction: an interrupted run leaves whole patients only.
                # Its schedule is planned once, at the end of its story.
                with transaction.atomic(), schedules_planned_once():
                    if identifier == PHASE3:
                        maintain_crc.patient_enter(
                            patient,
                            study=study,
                            site=site,
                            actor=staff[patient.site],
                            summary=summary,
                            last_day=last_day,
                            pharmacist=pharmacists[site.code],
                        )
                    else:
                        acc_209.patient_enter(
                            patient,
                            study=study,
                            site=site,
                            actor=staff[patient.site],
                            summary=summary,
                            last_day=last_day,
                        )
                    pending_flush(summary, actor=staff[patient.site], study=study)
                summary.added += 1
            if progress is not None:
                progress(identifier, done, len(plan))
        if identifier == PHASE3:
            demo_pharmacy.excursion_load(
                study=study, pharmacist=pharmacists[demo_pharmacy.EXCURSION_SITE], on=last_day
            )
            biobank_load(study=study, staff=staff, last_day=last_day)  # demo/biobank.py
            screening_log_fill(
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
            screening_log_fill(
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
