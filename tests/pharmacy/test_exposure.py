"""Exposure from dispensing: units used, duration, relative dose intensity."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from carnet.core.clock import utc_today
from carnet.pharmacy.assignment import visit_kits_assign
from carnet.pharmacy.dispensing import kit_dispense, kit_return
from carnet.pharmacy.exposure import exposure_rows
from carnet.pharmacy.models import Kit
from tests.pharmacy.dispensing_world import pharmacy_trial

pytestmark = pytest.mark.django_db


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
            "units_used": Decimal(6),
            "duration_days": 14,
            # 6 vials used of the 2 visits × 1 kit × 4 vials planned.
            "relative_dose_intensity": Decimal("0.750"),
        }
    ]
