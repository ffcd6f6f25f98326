"""Reads of the stock, scoped to the person's sites and blinded: a kit's content is part of a
row only for those `access.contents_visible` allows; for anyone else the row has no content at
all (None), and counts are by status only, since counts by content would tell the arms apart."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date

from django.db.models import QuerySet
from django.utils.translation import gettext as _

from carnet.accounts.models import StudySite, User
from carnet.accounts.permissions import PermissionDenied
from carnet.pharmacy.access import contents_visible, may_supply, stock_scope
from carnet.pharmacy.models import Batch, Excursion, Kit, KitStatus, Shipment
from carnet.studies.models import Study
from carnet.subjects.environments import environment_written


@dataclass(frozen=True)
class KitRow:
    number: str
    batch: str
    product: str
    expiry: date
    status: str
    site: str  # "" at the depot
    shipment: str
    content: str | None  # None: the person is blinded


def stock_sites(user: User, study: Study) -> list[StudySite]:
    """Return the study's sites whose stock the user may read, by code."""
    scope = stock_scope(user, study)
    sites = StudySite.objects.filter(study=study).select_related("centre").order_by("code")
    return [site for site in sites if scope.allows(site)]


def stock_site(user: User, study: Study, code: str) -> StudySite:
    """Return the site of this code if the user may read its stock (else the same refusal as
    for a site that does not exist)."""
    for site in stock_sites(user, study):
        if site.code == code:
            return site
    raise PermissionDenied(_("There is no site %(code)s whose stock you may see.") % {"code": code})


def may_read_depot(user: User, study: Study) -> bool:
    return may_supply(user, study) or (
        contents_visible(user, study) and stock_scope(user, study).all_sites
    )


def _kits(study: Study) -> QuerySet[Kit]:
    return Kit.objects.filter(study=study, environment=environment_written(study)).select_related(
        "batch", "site", "shipment"
    )


def kit_rows(kits: QuerySet[Kit] | list[Kit], *, contents: bool) -> list[KitRow]:
    return [
        KitRow(
            number=kit.number,
            batch=kit.batch.number,
            product=kit.batch.product,
            expiry=kit.expiry,
            status=kit.status,
            site=kit.site.code if kit.site else "",
            shipment=kit.shipment.number if kit.shipment else "",
            content=kit.content if contents else None,
        )
        for kit in kits
    ]


def kits_of(user: User, study: Study, *, site: StudySite | None, status: str = "") -> list[KitRow]:
    """Return the kits at a site (None: at the depot) the user may read, by number."""
    if site is None:
        if not may_read_depot(user, study):
            raise PermissionDenied(_("You may not see the depot's stock."))
        kits = _kits(study).filter(site__isnull=True)
    else:
        if not stock_scope(user, study).allows(site):
            raise PermissionDenied(
                _("There is no site %(code)s whose stock you may see.") % {"code": site.code}
            )
        kits = _kits(study).filter(site=site)
    if status:
        kits = kits.filter(status=status)
    return kit_rows(kits.order_by("number"), contents=contents_visible(user, study))


def stock_by_status(user: User, study: Study, *, site: StudySite | None) -> list[tuple[str, int]]:
    """Return how many kits of the site (None: the depot) are in each status, every status
    listed (a blinded person sees nothing more)."""
    counts = Counter(row.status for row in kits_of(user, study, site=site))
    return [(status, counts.get(status, 0)) for status in KitStatus.values]


def stock_by_content(user: User, study: Study, *, site: StudySite | None) -> dict[str, int]:
    """Return the usable kits by content: for those who may read contents only."""
    if not contents_visible(user, study):
        raise PermissionDenied(_("Only unblinded roles see kits by content."))
    return dict(
        Counter(
            row.content or "" for row in kits_of(user, study, site=site, status=KitStatus.AVAILABLE)
        )
    )


def batches_of(user: User, study: Study) -> list[Batch]:
    if not may_read_depot(user, study) and stock_scope(user, study).empty:
        raise PermissionDenied(_("You may not see the study's stock."))
    return list(
        Batch.objects.filter(study=study, environment=environment_written(study)).order_by(
            "product", "number"
        )
    )


def shipments_of(user: User, study: Study, *, site: StudySite | None = None) -> list[Shipment]:
    """Return the shipments to the sites the user may read (one site, when given)."""
    scope = stock_scope(user, study)
    shipments = Shipment.objects.filter(
        study=study, environment=environment_written(study)
    ).select_related("site")
    if site is not None:
        shipments = shipments.filter(site=site)
    return [s for s in shipments.order_by("-created_at", "-id") if scope.allows(s.site)]


def shipment_of(user: User, study: Study, number: str) -> Shipment:
    """Return the shipment of this number if the user may read its site's stock."""
    shipment = (
        Shipment.objects.filter(study=study, environment=environment_written(study), number=number)
        .select_related("site")
        .first()
    )
    if shipment is None or not stock_scope(user, study).allows(shipment.site):
        raise PermissionDenied(
            _("There is no shipment %(number)s you may see.") % {"number": number}
        )
    return shipment


def shipment_kits(user: User, shipment: Shipment) -> list[KitRow]:
    return kit_rows(
        shipment.kits.select_related("batch", "site", "shipment").order_by("number"),
        contents=contents_visible(user, shipment.study),
    )


def excursions_of(user: User, study: Study, *, site: StudySite | None = None) -> list[Excursion]:
    scope = stock_scope(user, study)
    excursions = Excursion.objects.filter(
        study=study, environment=environment_written(study)
    ).select_related("site", "shipment")
    if site is not None:
        excursions = excursions.filter(site=site)
    return [e for e in excursions if scope.allows(e.site)]


def excursion_of(user: User, study: Study, pk: int) -> Excursion:
    excursion = (
        Excursion.objects.filter(study=study, environment=environment_written(study), pk=pk)
        .select_related("site", "shipment")
        .first()
    )
    if excursion is None or not stock_scope(user, study).allows(excursion.site):
        raise PermissionDenied(_("There is no excursion %(pk)s you may see.") % {"pk": pk})
    return excursion


@dataclass(frozen=True)
class ExcursionKitRow:
    kit: KitRow
    decision: str
    reason: str
    decided_by: str


def excursion_kits(user: User, excursion: Excursion) -> list[ExcursionKitRow]:
    entries = excursion.kits.select_related(
        "kit", "kit__batch", "kit__site", "kit__shipment"
    ).order_by("kit__number")
    contents = contents_visible(user, excursion.study)
    return [
        ExcursionKitRow(
            kit=kit_rows([entry.kit], contents=contents)[0],
            decision=entry.decision,
            reason=entry.reason,
            decided_by=entry.decided_by,
        )
        for entry in entries
    ]
