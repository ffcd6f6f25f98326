"""The screening log of a demo study: patients screened and not included, with the reason."""

# ruff: noqa: S311 (synthetic data wants a seeded, reproducible generator, not secrecy)
from __future__ import annotations

import random
from datetime import date

from carnet.accounts.models import StudySite, User
from carnet.demo.synthetic import SEED, StudyPatients, gauss, site_plan, spread
from carnet.studies.models import Study
from carnet.subjects.models import ScreeningEntry, Sex
from carnet.subjects.services import screening_entry_add


def screening_log_fill(
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
    codes = site_plan(rng, shares, count)
    days = spread(rng, *period, count)
    for number, (code, day) in enumerate(zip(codes, days, strict=True), 1):
        reason = rng.choices([r for r, _w in reasons], [w for _r, w in reasons])[0]
        age, sex = int(gauss(rng, 64, 11, 25, 88)), rng.choice([Sex.MALE, Sex.FEMALE])
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
