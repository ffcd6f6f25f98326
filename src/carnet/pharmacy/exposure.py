"""Exposure per patient from the pharmacy's records: the units a patient used (dispensed minus
brought back unused), the duration between the first and the last dispensing, and the relative
dose intensity against what the protocol dispenses at the visits the patient came to.

Dispensing-based: the planned units of a visit are the study YAML's ``kits`` of each dispensing
rule times the product's ``per_kit`` (kit mode; hospital stock has no per-kit quantity, so its
intensity is left empty). The casebook's administered doses (mg) are the statistical plan's and
not read here.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from carnet.pharmacy.models import Dispensing, Return
from carnet.pharmacy.plan import PharmacyPlan, pharmacy_plan
from carnet.studies.models import Study


@dataclass(frozen=True)
class Exposure:
    subject: str
    product: str
    dispensed: Decimal
    returned: Decimal
    first_dispensed: date
    last_dispensed: date
    visits: int  # dispensing visits (event and occurrence) the patient received

    @property
    def used(self) -> Decimal:
        return self.dispensed - self.returned

    @property
    def duration_days(self) -> int:
        """Days from the first to the last dispensing, both counted."""
        return (self.last_dispensed - self.first_dispensed).days + 1


def planned_per_visit(plan: PharmacyPlan, product: str) -> Decimal | None:
    """Return the units the protocol dispenses of ``product`` at one visit (kit mode), or None
    when the study does not say (hospital stock, or no ``per_kit``)."""
    per_kit = next((p.per_kit for p in plan.products if p.code == product), None)
    kits = next((rule.kits for rule in plan.dispensing if rule.product == product), None)
    if not plan.kits or per_kit is None or kits is None:
        return None
    return Decimal(per_kit) * kits


def relative_dose_intensity(exposure: Exposure, plan: PharmacyPlan | None) -> Decimal | None:
    """Return used / planned for the visits received (1 = the full protocol dose), or None."""
    per_visit = planned_per_visit(plan, exposure.product) if plan else None
    if per_visit is None or exposure.visits == 0:
        return None
    return (exposure.used / (per_visit * exposure.visits)).quantize(Decimal("0.001"))


def exposures(study: Study, environment: str) -> list[Exposure]:
    """Return each patient's exposure per product (server side: the caller scopes and blinds;
    nothing here names an arm)."""
    dispensed: dict[tuple[str, str], list[Dispensing]] = defaultdict(list)
    for row in Dispensing.objects.filter(study=study, environment=environment).select_related(
        "subject"
    ):
        dispensed[(row.subject.identifier, row.product)].append(row)
    returned: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for back in Return.objects.filter(study=study, environment=environment).select_related(
        "subject"
    ):
        returned[(back.subject.identifier, back.product)] += back.quantity
    result = []
    for (subject, product), rows in sorted(dispensed.items()):
        days = [row.dispensed_on for row in rows]
        result.append(
            Exposure(
                subject=subject,
                product=product,
                dispensed=sum((row.quantity for row in rows), Decimal(0)),
                returned=returned[(subject, product)],
                first_dispensed=min(days),
                last_dispensed=max(days),
                visits=len({(row.event, row.occurrence) for row in rows}),
            )
        )
    return result


def exposure_rows(study: Study, environment: str) -> list[dict[str, object]]:
    """Return the exposures as rows (subject, product, units, duration, relative dose intensity)
    for an analysis dataset or a report table."""
    plan = pharmacy_plan(study)
    return [
        {
            "subject": e.subject,
            "product": e.product,
            "units_used": e.used,
            "duration_days": e.duration_days,
            "relative_dose_intensity": relative_dose_intensity(e, plan),
        }
        for e in exposures(study, environment)
    ]
