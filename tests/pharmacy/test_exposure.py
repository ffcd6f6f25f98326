"""Exposure: from the casebook's administration forms where the study says where they are, from
dispensing minus returns otherwise; in every export (no arm) and in the safety report, by arm
for the unblinded statistician and pooled for a blinded one."""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from carnet.accounts.models import User
from carnet.capture.services import form_save
from carnet.core.clock import utc_today
from carnet.interop.exports import export_write
from carnet.interop.services import cutoff_create
from carnet.pharmacy.assignment import visit_kits_assign
from carnet.pharmacy.dispensing import kit_dispense, kit_return
from carnet.pharmacy.exposure import exposure_frame, exposure_rows
from carnet.pharmacy.models import Kit
from carnet.randomization.models import Allocation
from carnet.reports.selectors import report_of
from carnet.subjects.models import Subject
from tests.accounts.personas import with_second_factor
from tests.pharmacy.dispensing_world import PharmacyTrial, pharmacy_trial

pytestmark = pytest.mark.django_db

# 8 mg per kg of the weight of the day, every 14 days (a delay lowers the intensity).
PER_KG = (
    "[{product: CRN, form: vitals, dose: adm_dose, date: vs_date, unit: mg,"
    " planned_per_kg: 8, weight: weight, every_days: 14}]"
)


def test_exposure_counts_units_used_duration_and_dose_intensity(tmp_path: Path) -> None:
    trial = pharmacy_trial(tmp_path)
    trial.stock("experimental", count=3)
    trial.stock("placebo", count=3)
    subject = trial.randomised()
    study, site = trial.world.study, trial.world.site_a
    first = Kit.objects.get(subject=subject)
    day = utc_today()
    kit_dispense(
        actor=trial.pharmacist,
        study=study,
        site=site,
        number=first.number,
        on=day,
        dispensed_to="patient",
    )
    second = visit_kits_assign(
        actor=trial.pharmacist, subject=subject, event="cycle", occurrence=1
    )[0]
    kit_dispense(
        actor=trial.pharmacist,
        study=study,
        site=site,
        number=second.number,
        on=day + timedelta(days=13),
        dispensed_to="patient",
    )
    # Two of the second kit's four vials came back unused.
    kit_return(
        actor=trial.pharmacist,
        study=study,
        site=site,
        number=second.number,
        on=day + timedelta(days=27),
        quantity=2,
    )
    assert exposure_rows(study, "production") == [
        {
            "subject": subject.identifier,
            "product": "CRN",
            "source": "dispensing",
            "unit": "vial",
            "administrations": 2,
            "cumulative_dose": 6.0,
            "planned_dose": 8.0,
            "first_on": day,
            "last_on": day + timedelta(days=13),
            "duration_days": 14,
            # 6 vials used of the 2 visits × 1 kit × 4 vials planned.
            "relative_dose_intensity": 0.75,
        }
    ]


def _administer(
    trial: PharmacyTrial, subject: Subject, event: str, *, weight: int, dose: int, on: date
) -> None:
    form_save(
        actor=trial.nurse,
        subject=subject,
        event=event,
        form="vitals",
        base_version=None,
        values={"weight": weight, "smoker": 0, "adm_dose": dose, "vs_date": on.isoformat()},
    )


def _dispense_first_kit(trial: PharmacyTrial, subject: Subject) -> None:
    kit_dispense(
        actor=trial.pharmacist,
        study=trial.world.study,
        site=trial.world.site_a,
        number=Kit.objects.get(subject=subject).number,
        on=utc_today(),
        dispensed_to="patient",
    )


def _two_patients(tmp_path: Path) -> tuple[PharmacyTrial, Subject, Subject]:
    """Ann's doses are recorded in the casebook (one full, one at 75% a week late); Bob's are
    not: his kit was dispensed, nothing came back."""
    trial = pharmacy_trial(tmp_path, administration=PER_KG)
    trial.stock("experimental", count=4)
    trial.stock("placebo", count=4)
    ann, bob = trial.randomised(), trial.randomised()
    for subject in (ann, bob):
        _dispense_first_kit(trial, subject)
    day = utc_today()
    _administer(trial, ann, "treatment", weight=70, dose=560, on=day)
    return trial, ann, bob


def test_exposure_reads_the_administration_forms_and_falls_back_to_dispensing(
    tmp_path: Path,
) -> None:
    trial, ann, bob = _two_patients(tmp_path)
    study = trial.world.study
    day = utc_today()
    cutoff = cutoff_create(actor=trial.data_manager, study=study, name="C1", reason="test")
    _administer(trial, ann, "cycle", weight=70, dose=420, on=day + timedelta(days=21))
    rows = {row["subject"]: row for row in exposure_rows(study, "production")}
    assert rows[ann.identifier] | {"first_on": None, "last_on": None} == {
        "subject": ann.identifier,
        "product": "CRN",
        "source": "administration",
        "unit": "mg",
        "administrations": 2,
        "cumulative_dose": 980.0,
        "planned_dose": 1120.0,  # 8 mg/kg × 70 kg, twice
        "first_on": None,
        "last_on": None,
        # Day 0 to the end of the second 14-day cycle, which started on day 21.
        "duration_days": 35,
        # (980 mg / 35 days) / (560 mg / 14 days) = 28 / 40.
        "relative_dose_intensity": 0.7,
    }
    assert rows[bob.identifier]["source"] == "dispensing"
    assert rows[bob.identifier]["cumulative_dose"] == 4.0
    assert rows[bob.identifier]["relative_dose_intensity"] == 1.0
    # At the cut-off taken before the second administration: one dose, one cycle.
    at_cutoff = exposure_frame(study, seq=cutoff.seq, at=cutoff.created_at)
    ann_then = at_cutoff.filter(at_cutoff["subject"] == ann.identifier).to_dicts()[0]
    assert (ann_then["cumulative_dose"], ann_then["duration_days"]) == (560.0, 14)
    assert ann_then["relative_dose_intensity"] == 1.0


def test_the_exposure_s_statements_do_not_grow_with_the_forms_recorded(tmp_path: Path) -> None:
    # At 10,000 patients the exposure named every administration form's id in one statement:
    # "too many SQL variables" on SQLite, and every export at a cut-off failed with it.
    trial, ann, bob = _two_patients(tmp_path)
    study = trial.world.study

    def statements() -> list[int]:
        """Return the number of parameters of each statement the exposure sends."""
        sizes: list[int] = []

        def counting(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
            sizes.append(len(params or ()))
            return execute(sql, params, many, context)

        with connection.execute_wrapper(counting):
            exposure_frame(study)
        return sizes

    before = statements()
    for cycle in (1, 2, 3):
        for subject in (ann, bob):
            on = utc_today() + timedelta(days=14 * cycle)
            form_save(
                actor=trial.nurse,
                subject=subject,
                event="cycle",
                occurrence=cycle,
                form="vitals",
                base_version=None,
                values={"weight": 70, "smoker": 0, "adm_dose": 560, "vs_date": on.isoformat()},
            )
    # A third patient whose kit was dispensed: the patients named do not grow the statements.
    _dispense_first_kit(trial, trial.randomised())
    assert statements() == before


def test_a_missing_weight_leaves_the_intensity_unknown(tmp_path: Path) -> None:
    trial = pharmacy_trial(tmp_path, administration=PER_KG)
    trial.stock("experimental", count=2)
    trial.stock("placebo", count=2)
    ann = trial.randomised()
    form_save(
        actor=trial.nurse,
        subject=ann,
        event="cycle",
        form="vitals",
        base_version=None,
        values={"adm_dose": 500, "vs_date": utc_today().isoformat()},
    )
    (row,) = exposure_rows(trial.world.study, "production")
    assert (row["cumulative_dose"], row["planned_dose"]) == (500.0, None)
    assert row["relative_dose_intensity"] is None


def _export(trial: PharmacyTrial, cutoff: object, **options: object) -> list[dict[str, str]]:
    target = io.BytesIO()
    export_write(
        actor=options.pop("actor", trial.data_manager),  # type: ignore[arg-type]
        study=trial.world.study,
        cutoff=cutoff,  # type: ignore[arg-type]
        file_format="csv",
        target=target,
        **options,  # type: ignore[arg-type]
    )
    with zipfile.ZipFile(target) as archive:
        return list(csv.DictReader(io.StringIO(archive.read("exposure.csv").decode())))


def test_every_export_carries_the_exposure_at_its_cut_off_without_an_arm(tmp_path: Path) -> None:
    trial, ann, bob = _two_patients(tmp_path)
    study = trial.world.study
    cutoff = cutoff_create(actor=trial.data_manager, study=study, name="C1", reason="test")
    _administer(trial, ann, "cycle", weight=70, dose=420, on=utc_today() + timedelta(days=21))
    rows = _export(trial, cutoff)
    assert [(r["subject"], r["source"], r["cumulative_dose"]) for r in rows] == [
        (ann.identifier, "administration", "560.0"),
        (bob.identifier, "dispensing", "4.0"),
    ]
    assert "arm" not in rows[0]
    arms = set(Allocation.objects.values_list("arm", flat=True))
    assert not any(arm in value for row in rows for value in row.values() for arm in arms)
    # The unblinded export has the same exposure: the arm is in its subject dataset.
    assert _export(trial, cutoff, actor=trial.unblinded, unblinded=True) == rows


def test_the_unblinded_statistician_sees_dose_intensity_by_arm(tmp_path: Path) -> None:
    trial, ann, bob = _two_patients(tmp_path)
    study = trial.world.study
    cutoff = cutoff_create(actor=trial.data_manager, study=study, name="C1", reason="test")
    arm = dict(Allocation.objects.values_list("subject__identifier", "arm"))
    report, source = report_of(actor=trial.unblinded, study=study, cutoff=cutoff, kind="safety")
    assert source.unblinded
    by_group = {(row["group"], row["source"]): row for row in report.data["exposure"]}
    assert by_group[(arm[ann.identifier], "administration")]["rdi_median"] == 1.0
    assert by_group[(arm[bob.identifier], "dispensing")]["rdi_median"] == 1.0
    section = next(s for s in report.sections if s.title == "Exposure to the study treatment")
    (table,) = section.tables
    assert {row[0] for row in table.rows} == {arm[ann.identifier], arm[bob.identifier]}
    assert "RDI: median (Q1–Q3)" in table.columns
    # The report's page shows the table by arm.
    page = _browser(with_second_factor(trial.unblinded)).get(
        reverse("reports:report", args=["MINI", "C1", "safety"])
    )
    assert page.status_code == 200
    html = page.content.decode()
    assert "Exposure to the study treatment" in html
    assert arm[ann.identifier] in html


def test_a_blinded_statistician_sees_the_exposure_pooled_only(tmp_path: Path) -> None:
    trial, _ann, _bob = _two_patients(tmp_path)
    study = trial.world.study
    cutoff = cutoff_create(actor=trial.data_manager, study=study, name="C1", reason="test")
    report, source = report_of(actor=trial.statistician, study=study, cutoff=cutoff, kind="safety")
    assert not source.unblinded
    assert {row["group"] for row in report.data["exposure"]} == {"All patients"}
    section = next(s for s in report.sections if s.title == "Exposure to the study treatment")
    arms = set(Allocation.objects.values_list("arm", flat=True))
    shown = " ".join(" ".join(row) for table in section.tables for row in table.rows)
    assert arms
    assert not any(arm in shown for arm in arms)
    page = _browser(trial.statistician).get(
        reverse("reports:report", args=["MINI", "C1", "safety"])
    )
    html = page.content.decode()
    assert "Exposure to the study treatment" in html
    assert not any(arm in html for arm in arms)


def _browser(user: User) -> Client:
    client = Client()
    client.force_login(user)
    device = TOTPDevice.objects.filter(user=user).first()
    if device is not None:
        session = client.session
        session[DEVICE_ID_SESSION_KEY] = device.persistent_id
        session.save()
    return client
