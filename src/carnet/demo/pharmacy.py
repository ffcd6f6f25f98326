"""MAINTAIN-CRC's pharmacy in the demo (issue 25): the study runs in kit mode.

Everything goes through the pharmacy's services, as the depot and the sites would: the sponsor's
project manager records the manufacturer's batches (released by the qualified person), the kits
are generated per arm and shipped to each site, whose pharmacist receives them (the box scanned
at once, an audit event per kit). The randomisation assigns the kit of cycle 1 (the pharmacy's
kit assigner); at each later cycle the site's pharmacist assigns the visit's kit and dispenses
it, and the day unit brings the unused vial back when the dose needed one only. A temperature
excursion at site 02 quarantines two kits until the project manager decides.

Stock is shipped before each patient when the site holds fewer usable kits of an arm than the
patient could need (one a cycle up to yesterday): shipments carry as many kits of every arm, as
a resupply does, so the demo never runs out and no shipment tells which arm a site's patients
are on. The server reads contents to count the stock; nothing here shows them.
"""

from __future__ import annotations

import math
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.db.models import Count

from carnet.accounts.models import Membership, StudySite, User
from carnet.accounts.roles import Role
from carnet.accounts.services import role_grant
from carnet.audit.services import SystemActor
from carnet.core.clock import utc_today
from carnet.demo.accounts import DEMO_ROLES_FROM, demo_account_create, demo_password
from carnet.pharmacy.excursions import excursion_decide, excursion_report
from carnet.pharmacy.models import Batch, Excursion, Kit, KitStatus
from carnet.pharmacy.plan import pharmacy_plan
from carnet.pharmacy.shipments import (
    shipment_create,
    shipment_receipt_close,
    shipment_receive_kits,
    shipment_send,
)
from carnet.pharmacy.supply import batch_create, kits_generate
from carnet.pharmacy.visit_dispensing import VisitDispensing, visits_kits_dispense
from carnet.studies.models import Study
from carnet.subjects.environments import environment_written
from carnet.subjects.models import Subject

PRODUCT = "CRN-417"
VIAL_MG = 400  # one vial of CRN-417 (or placebo) holds 400 mg; a kit holds two
# The manufacturer's batches: number, QP release, expiry. Both released before the first site
# opened; the first (soonest expiry) is given first.
BATCHES = (
    ("CRN-24-011", date(2025, 1, 20), date(2027, 9, 30)),
    ("CRN-25-004", date(2025, 1, 27), date(2028, 6, 30)),
)
KIT_PATTERN = "1{seq:05}"  # six digits, as the administration form's kit_number asks
# Kits of each arm a shipment carries at least.
SHIPMENT_PER_ARM = 40
# The pharmacist of each demo site (site 01's is the `pharmacist` role account).
DEMO_PHARMACISTS: tuple[tuple[str, str, int], ...] = (
    # user name, full name, site number
    ("pharmacist2", "Sarah Haddad (PUI, IPC)", 2),
    ("pharmacist3", "Antoine Giraud (PUI, CLB)", 3),
)
PROJECT_MANAGER = "projectmanager"
EXCURSION_SITE = "02"


def pharmacists_load(*, actor: SystemActor, study: Study) -> dict[str, User]:
    """Create the pharmacists of sites 02 and 03 (the demo password) with their role on the
    study; return each site's pharmacist by site code. A second run changes nothing."""
    chosen = demo_password(None)
    found = {"01": User.objects.get(username="pharmacist")}
    for username, full_name, number in DEMO_PHARMACISTS:
        user = User.objects.filter(username=username).first()
        if user is None:
            user = demo_account_create(
                actor=actor, username=username, full_name=full_name, password=chosen
            )
        site = StudySite.objects.get(study=study, code=f"{number:02d}")
        if not Membership.objects.filter(
            user=user, study=study, site=site, role=Role.PHARMACIST
        ).exists():
            role_grant(
                actor=actor,
                user=user,
                study=study,
                site=site,
                role=Role.PHARMACIST,
                starts_on=DEMO_ROLES_FROM,
            )
        found[site.code] = user
    return found


def pharmacy_load(*, actor: SystemActor, study: Study) -> dict[str, User]:
    """Make ready the study's pharmacy: the sites' pharmacists and the manufacturer's batches;
    return each site's pharmacist by site code."""
    pharmacists = pharmacists_load(actor=actor, study=study)
    batches_load(study=study)
    return pharmacists


def batches_load(*, study: Study) -> list[Batch]:
    """Record the manufacturer's batches once, as the project manager; return them."""
    manager = User.objects.get(username=PROJECT_MANAGER)
    environment = environment_written(study)
    batches = []
    for number, released_on, expiry in BATCHES:
        batch = Batch.objects.filter(study=study, environment=environment, number=number).first()
        if batch is None:
            batch = batch_create(
                actor=manager,
                study=study,
                product=PRODUCT,
                number=number,
                expiry=expiry,
                released_on=released_on,
            )
        batches.append(batch)
    return batches


def usable_by_arm(study: Study, site: StudySite) -> dict[str, int]:
    """Return the site's available kits of each arm (server side: the demo's own count)."""
    counts = dict(
        Kit.objects.filter(
            study=study,
            environment=environment_written(study),
            site=site,
            status=KitStatus.AVAILABLE,
            expiry__gt=utc_today(),
        )
        .values_list("content")
        .annotate(n=Count("id"))
        .values_list("content", "n")
    )
    plan = pharmacy_plan(study)
    return {arm: counts.get(arm, 0) for arm in (plan.contents if plan else ())}


def stock_ensure(
    *,
    actor: SystemActor,
    study: Study,
    site: StudySite,
    pharmacist: User,
    needed: int,
) -> int:
    """Ship kits to the site when it holds fewer than ``needed`` usable kits of an arm: the
    project manager prepares and sends a shipment of as many kits of every arm, the site's
    pharmacist receives its kits (scanned as one box) and closes the receipt; return how many
    kits came."""
    counts = usable_by_arm(study, site)
    lowest = min(counts.values(), default=0)
    if lowest >= needed:
        return 0
    per_arm = max(SHIPMENT_PER_ARM, needed - lowest)
    manager = User.objects.get(username=PROJECT_MANAGER)
    environment = environment_written(study)
    shipped = Kit.objects.filter(study=study, environment=environment).exclude(
        status=KitStatus.AT_DEPOT
    )
    # The first batch serves the first shipment of every site; resupplies come from the second.
    first = not shipped.filter(site=site).exists()
    batch = Batch.objects.get(
        study=study, environment=environment, number=BATCHES[0 if first else 1][0]
    )
    # The depot's labels (with contents) stay on the server: only the numbers are shipped.
    kits = kits_generate(
        actor=actor, study=study, batch=batch, per_content=per_arm, pattern=KIT_PATTERN
    )
    numbers = sorted(kit.number for kit in kits)
    shipment = shipment_create(
        actor=manager, study=study, site=site, numbers=numbers, today=utc_today()
    )
    shipment = shipment_send(actor=manager, shipment=shipment)
    shipment_receive_kits(actor=pharmacist, shipment=shipment, numbers=numbers)
    shipment_receipt_close(
        actor=pharmacist,
        shipment=shipment,
        temperature_record="logger: min 3.1 °C, max 6.8 °C, 26 h",
        temperature_ok=True,
    )
    return len(numbers)


def cycles_bound(included_on: date, last_day: date) -> int:
    """Return the most cycles a patient included on ``included_on`` can have had by
    ``last_day`` (one every 14 days, cycle 1 within 3 days), with one to spare."""
    return max(0, (last_day - included_on).days) // 14 + 2


class CycleKits:
    """A patient's cycles whose kit the site's pharmacist assigns (cycle 1's was assigned at
    randomisation) and dispenses to the day unit; when the dose needed one vial only, the unused
    one comes back the same day. The cycles are kept and their kits written together
    (`visits_kits_dispense`) before anything else is written (`flush`): the kits, ledger rows
    and audit events are those of the cycles one after another, in the same order. Each cycle's
    administration form, kept unwritten, gets its kit number then."""

    def __init__(self, *, pharmacist: User, subject: Subject) -> None:
        self.pharmacist, self.subject = pharmacist, subject
        self.zone = ZoneInfo(subject.site.centre.time_zone)
        self.due: list[tuple[VisitDispensing, dict[str, Any]]] = []

    def add(self, *, occurrence: int, on: date, dose_mg: int, values: dict[str, Any]) -> None:
        """Keep a cycle; ``values`` are its administration form's, whose kit_number is set when
        the kits are written."""
        moment = datetime.combine(on, time(9), tzinfo=self.zone)
        visit = VisitDispensing(
            event="cycle",
            occurrence=occurrence,
            at=moment,
            on=on,
            dispensed_to="Day unit nurse",
            used=max(1, math.ceil(dose_mg / VIAL_MG)),
            return_note="Unused vial brought back by the day unit",
        )
        self.due.append((visit, values))

    def flush(self) -> None:
        """Write the kept cycles' kits (before any other write: the visits they read stay as
        they were when the cycles were kept)."""
        if not self.due:
            return
        due, self.due = self.due, []
        found = visits_kits_dispense(
            actor=self.pharmacist, subject=self.subject, visits=[visit for visit, _v in due]
        )
        for (_visit, values), (kit,) in zip(due, found, strict=True):
            values["kit_number"] = kit.number


def excursion_load(*, study: Study, pharmacist: User, on: date) -> Excursion | None:
    """Once: site 02's pharmacy fridge warmed up overnight; two kits are quarantined and the
    project manager, from the stability data, finds them usable. None when already there or
    when the site holds too few kits."""
    site = StudySite.objects.get(study=study, code=EXCURSION_SITE)
    environment = environment_written(study)
    if Excursion.objects.filter(study=study, environment=environment, site=site).exists():
        return None
    numbers = list(
        Kit.objects.filter(
            study=study, environment=environment, site=site, status=KitStatus.AVAILABLE
        )
        .order_by("-number")
        .values_list("number", flat=True)[:2]
    )
    if len(numbers) < 2:
        return None
    excursion = excursion_report(
        actor=pharmacist,
        study=study,
        site=site,
        description=f"Pharmacy fridge door left ajar overnight, found open on {on.isoformat()}",
        numbers=numbers,
        minimum_temperature=Decimal("4.0"),
        maximum_temperature=Decimal("11.5"),
        duration_minutes=540,
    )
    return excursion_decide(
        actor=User.objects.get(username=PROJECT_MANAGER),
        excursion=excursion,
        decision="usable",
        reason="Stability data: up to 25 °C for 72 hours allowed (manufacturer's letter 2025-07)",
    )


def stock_load(*, actor: SystemActor, study: Study, per_arm: int = SHIPMENT_PER_ARM) -> int:
    """Give every site of the study (its pharmacists and batches first) a shipment holding at
    least ``per_arm`` usable kits of each arm; return how many kits came. For worlds that
    randomise MAINTAIN-CRC patients outside the demo's story (tests, guides)."""
    pharmacists = pharmacy_load(actor=actor, study=study)
    return sum(
        stock_ensure(
            actor=actor, study=study, site=site, pharmacist=pharmacists[site.code], needed=per_arm
        )
        for site in StudySite.objects.filter(study=study).order_by("code")
    )
