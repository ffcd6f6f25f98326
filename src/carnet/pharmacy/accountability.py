"""Accountability: what each site received, dispensed, got back, destroyed and holds, per kit,
per patient and per site, read from the stock ledger and checked against the kits themselves.

Each kit received at a site is in exactly one place: in the pharmacy's stock (usable,
quarantined, assigned, damaged or expired), with the patient (dispensed), back at the pharmacy
(returned) or destroyed. The ledger's last word on a kit says where it should be; the kit's
status says where it is. A site balances when received = dispensed + returned + destroyed + in
stock by the ledger, and every kit's status agrees with its ledger; anything else is listed as
a discrepancy. Hospital stock mode counts quantities of each product the same way.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from django.utils.translation import gettext as _

from carnet.accounts.models import StudySite
from carnet.capture.models import ItemValue
from carnet.pharmacy.models import Dispensing, Kit, KitStatus, Return, StockMovement
from carnet.studies.models import Study

IN_STOCK, DISPENSED, RETURNED, DESTROYED, AWAY = (
    "in_stock",
    "dispensed",
    "returned",
    "destroyed",
    "away",
)
BUCKETS = (DISPENSED, RETURNED, DESTROYED, IN_STOCK)

_STATUS_BUCKET = {
    KitStatus.AVAILABLE: IN_STOCK,
    KitStatus.QUARANTINED: IN_STOCK,
    KitStatus.ASSIGNED: IN_STOCK,
    KitStatus.DAMAGED: IN_STOCK,
    KitStatus.EXPIRED: IN_STOCK,
    KitStatus.DISPENSED: DISPENSED,
    KitStatus.RETURNED: RETURNED,
    KitStatus.DESTROYED: DESTROYED,
    KitStatus.AT_DEPOT: AWAY,
    KitStatus.IN_TRANSIT: AWAY,
    KitStatus.MISSING: AWAY,
}
# What a movement says of where the kit is; movements absent here (relabelled, replaced,
# created, shipped…) leave it where it was as far as the site is concerned.
_MOVEMENT_BUCKET = {
    StockMovement.Kind.RECEIVED: IN_STOCK,
    StockMovement.Kind.QUARANTINED: IN_STOCK,
    StockMovement.Kind.RELEASED: IN_STOCK,
    StockMovement.Kind.ASSIGNED: IN_STOCK,
    StockMovement.Kind.DAMAGED: IN_STOCK,
    StockMovement.Kind.EXPIRED: IN_STOCK,
    StockMovement.Kind.DISPENSED: DISPENSED,
    StockMovement.Kind.RETURNED: RETURNED,
    StockMovement.Kind.DESTROYED: DESTROYED,
    StockMovement.Kind.SHIPPED: AWAY,
    StockMovement.Kind.MISSING: AWAY,
}


@dataclass
class KitLine:
    """One kit's account: its number, status, where the ledger puts it, and its movements."""

    number: str
    status: str
    by_ledger: str
    subject: str
    movements: list[tuple[str, str, str, str]]  # (day, kind, actor, reason)
    content: str = ""  # filled for unblinded readers only


@dataclass
class SiteAccount:
    site: str
    received: int = 0
    dispensed: int = 0
    returned: int = 0
    destroyed: int = 0
    in_stock: int = 0
    discrepancies: list[str] = field(default_factory=list)
    kits: list[KitLine] = field(default_factory=list)

    @property
    def balances(self) -> bool:
        total = self.dispensed + self.returned + self.destroyed + self.in_stock
        return self.received == total and not self.discrepancies


@dataclass
class PatientLine:
    """What one patient received and brought back (kits, or quantities of a product)."""

    subject: str
    product: str
    dispensed: Decimal = Decimal(0)
    returned: Decimal = Decimal(0)
    kits: list[str] = field(default_factory=list)

    @property
    def used(self) -> Decimal:
        return self.dispensed - self.returned


@dataclass
class ProductAccount:
    """Hospital stock: one product's quantities at one site."""

    site: str
    product: str
    received: Decimal = Decimal(0)
    dispensed: Decimal = Decimal(0)
    returned: Decimal = Decimal(0)
    destroyed: Decimal = Decimal(0)
    adjusted: Decimal = Decimal(0)

    @property
    def in_stock(self) -> Decimal:
        # Returned quantities are kept apart for destruction: they count in stock until destroyed.
        return self.received + self.adjusted - self.dispensed + self.returned - self.destroyed


@dataclass
class Accountability:
    study: str
    environment: str
    sites: list[SiteAccount]
    patients: list[PatientLine]
    products: list[ProductAccount]
    discrepancies: list[str]

    @property
    def balances(self) -> bool:
        return not self.discrepancies and all(site.balances for site in self.sites)


def _kit_accounts(
    study: Study, environment: str, sites: list[StudySite], *, unblinded: bool
) -> dict[int, SiteAccount]:
    accounts = {site.pk: SiteAccount(site=site.code) for site in sites}
    movements: dict[int, list[StockMovement]] = defaultdict(list)
    for movement in StockMovement.objects.filter(
        study=study, environment=environment, kit__isnull=False, site__in=sites
    ).order_by("at", "id"):
        movements[movement.kit_id].append(movement)  # type: ignore[index]
    kits = {
        kit.pk: kit
        for kit in Kit.objects.filter(pk__in=movements).select_related("site", "subject")
    }
    for kit_id, rows in sorted(movements.items(), key=lambda pair: kits[pair[0]].number):
        kit = kits[kit_id]
        site_id = rows[-1].site_id
        account = accounts[site_id]  # type: ignore[index]
        received = sum(1 for row in rows if row.kind == StockMovement.Kind.RECEIVED)
        account.received += received
        by_ledger = AWAY
        for row in rows:
            by_ledger = _MOVEMENT_BUCKET.get(row.kind, by_ledger)  # type: ignore[call-overload]
        if by_ledger in BUCKETS:
            setattr(account, by_ledger, getattr(account, by_ledger) + 1)
        words = {"kit": kit.number, "status": kit.status, "ledger": by_ledger}
        if not received and by_ledger != AWAY:
            account.discrepancies.append(
                _("kit %(kit)s: moved at the site but never received there.") % words
            )
        by_status = _STATUS_BUCKET.get(kit.status, AWAY)  # type: ignore[call-overload]
        if by_status != by_ledger:
            account.discrepancies.append(
                _("kit %(kit)s: its status is %(status)s but the ledger puts it %(ledger)s.")
                % words
            )
        elif by_ledger != AWAY and kit.site_id != site_id:
            account.discrepancies.append(
                _("kit %(kit)s: the ledger puts it at this site, the kit is elsewhere.") % words
            )
        account.kits.append(
            KitLine(
                number=kit.number,
                status=kit.status,
                by_ledger=by_ledger,
                subject=kit.subject.identifier if kit.subject else "",
                movements=[
                    (row.at.date().isoformat(), row.kind, row.actor, row.reason) for row in rows
                ],
                content=kit.content if unblinded else "",
            )
        )
    return accounts


def _patients(study: Study, environment: str, sites: list[StudySite]) -> list[PatientLine]:
    lines: dict[tuple[str, str], PatientLine] = {}
    for dispensing in Dispensing.objects.filter(
        study=study, environment=environment, site__in=sites
    ).select_related("subject", "kit"):
        key = (dispensing.subject.identifier, dispensing.product)
        line = lines.setdefault(key, PatientLine(subject=key[0], product=key[1]))
        line.dispensed += dispensing.quantity
        if dispensing.kit is not None:
            line.kits.append(dispensing.kit.number)
    for returned in Return.objects.filter(
        study=study, environment=environment, site__in=sites
    ).select_related("subject"):
        key = (returned.subject.identifier, returned.product)
        line = lines.setdefault(key, PatientLine(subject=key[0], product=key[1]))
        line.returned += returned.quantity
    return [lines[key] for key in sorted(lines)]


def _products(study: Study, environment: str, sites: list[StudySite]) -> list[ProductAccount]:
    accounts: dict[tuple[str, str], ProductAccount] = {}
    codes = {site.pk: site.code for site in sites}
    for movement in StockMovement.objects.filter(
        study=study, environment=environment, kit__isnull=True, site__in=sites
    ):
        key = (codes[movement.site_id], movement.product)  # type: ignore[index]
        account = accounts.setdefault(key, ProductAccount(site=key[0], product=key[1]))
        name = {
            StockMovement.Kind.RECEIVED: "received",
            StockMovement.Kind.DISPENSED: "dispensed",
            StockMovement.Kind.RETURNED: "returned",
            StockMovement.Kind.DESTROYED: "destroyed",
            StockMovement.Kind.ADJUSTED: "adjusted",
        }.get(movement.kind)  # type: ignore[call-overload]
        if name:
            setattr(account, name, getattr(account, name) + movement.quantity)
    return [accounts[key] for key in sorted(accounts)]


def _casebook_mismatches(study: Study, environment: str, sites: list[StudySite]) -> list[str]:
    """Kit numbers written in the casebook at a visit that are not the kits the pharmacy
    dispensed to that subject for that visit (items named ``kit_number``)."""
    found = []
    dispensed: dict[tuple[int, str, int], set[str]] = defaultdict(set)
    for subject_id, event, occurrence, number in Dispensing.objects.filter(
        study=study, environment=environment, site__in=sites, kit__isnull=False
    ).values_list("subject_id", "event", "occurrence", "kit__number"):
        dispensed[(subject_id, event, occurrence or 1)].add(number)
    for value in (
        ItemValue.objects.filter(
            form_instance__subject__study=study,
            form_instance__subject__site__in=sites,
            form_instance__environment=environment,
            item="kit_number",
            removed=False,
        )
        .exclude(text="")
        .select_related("form_instance__subject")
    ):
        instance = value.form_instance
        key = (instance.subject_id, instance.event, instance.occurrence)
        if value.text.strip() not in dispensed.get(key, set()):
            found.append(
                _(
                    "%(subject)s, %(event)s %(occurrence)s: the casebook's kit number "
                    "%(kit)s is not a kit dispensed for this visit."
                )
                % {
                    "subject": instance.subject.identifier,
                    "event": instance.event,
                    "occurrence": instance.occurrence,
                    "kit": value.text,
                }
            )
    return found


def accountability(
    study: Study, environment: str, sites: list[StudySite], *, unblinded: bool = False
) -> Accountability:
    """Return the accountability of the given sites (the caller scopes them to the reader):
    per site and kit, per patient, per product (hospital stock), with every discrepancy.
    Kit contents are filled only for an ``unblinded`` reader."""
    accounts = _kit_accounts(study, environment, sites, unblinded=unblinded)
    patients = _patients(study, environment, sites)
    products = _products(study, environment, sites)
    discrepancies = [text for account in accounts.values() for text in account.discrepancies]
    for line in patients:
        if line.returned > line.dispensed:
            discrepancies.append(
                _("%(subject)s: more %(product)s returned than dispensed.")
                % {"subject": line.subject, "product": line.product}
            )
    for product in products:
        if product.in_stock < 0:
            discrepancies.append(
                _("site %(site)s: the stock of %(product)s is below zero.")
                % {"site": product.site, "product": product.product}
            )
    discrepancies += _casebook_mismatches(study, environment, sites)
    return Accountability(
        study=study.identifier,
        environment=environment,
        sites=[accounts[site.pk] for site in sites],
        patients=patients,
        products=products,
        discrepancies=discrepancies,
    )
