"""The randomisation report for the trial master file: scheme, list hashes, allocations, balance.

One report, two variants decided by the blinding policy: an unblinded person gets the allocation
listing with each arm and the balance by arm (overall, by site, by stratum); a blinded person gets
the scheme, the hashes and the counts by site and stratum, never an arm. Counts are aggregated by
the database. The HTML is the page's; the PDF is the same HTML through WeasyPrint.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Count
from django.template.loader import render_to_string

from carnet.accounts.blinding import Blinding
from carnet.core.clock import utc_now
from carnet.core.pdf import html_to_pdf
from carnet.randomization.models import Allocation, AllocationList, Scheme
from carnet.randomization.services import list_entries_sha256
from carnet.studies.models import Study


@dataclass(frozen=True)
class ListSummary:
    scheme: int
    environment: str
    source: str
    entries: int
    used: int
    entries_sha256: str
    file_sha256: str


@dataclass(frozen=True)
class Balance:
    """Counts of allocations by ``key`` (a site's code, a stratum, or "" overall) and arm."""

    key: str
    total: int
    by_arm: dict[str, int]


@dataclass(frozen=True)
class RandomisationReport:
    study: Study
    environment: str
    unblinded: bool
    generated_at: Any
    schemes: list[Scheme]
    lists: list[ListSummary]
    arms: list[str]
    overall: Balance
    by_site: list[Balance]
    by_stratum: list[Balance]
    allocations: list[dict[str, Any]]  # unblinded only


def _balances(allocations: Any, field: str, arms: list[str], unblinded: bool) -> list[Balance]:
    """Return one balance per value of ``field`` (aggregated in the database)."""
    totals: dict[str, int] = {}
    by_arm: dict[str, dict[str, int]] = {}
    if unblinded:
        rows = allocations.values(field, "arm").annotate(n=Count("id")).order_by(field, "arm")
        for row in rows:
            key = row[field] or ""
            by_arm.setdefault(key, dict.fromkeys(arms, 0))[row["arm"]] = row["n"]
            totals[key] = totals.get(key, 0) + row["n"]
    else:
        for row in allocations.values(field).annotate(n=Count("id")).order_by(field):
            totals[row[field] or ""] = row["n"]
    return [Balance(key, total, by_arm.get(key, {})) for key, total in totals.items()]


def randomisation_report(
    *, study: Study, blinding: Blinding, environment: str = "production"
) -> RandomisationReport:
    """Return the study's randomisation report as ``blinding`` lets its reader see it."""
    unblinded = blinding.unblinded
    schemes = list(Scheme.objects.filter(study=study).order_by("number"))
    arms: list[str] = list(schemes[-1].definition["arms"]) if schemes else []
    lists = [
        ListSummary(
            scheme=allocation_list.scheme.number,
            environment=allocation_list.environment,
            source=allocation_list.source,
            entries=allocation_list.entries.count(),
            used=allocation_list.entries.filter(used_by__isnull=False).count(),
            entries_sha256=list_entries_sha256(allocation_list),
            file_sha256=allocation_list.file_sha256,
        )
        for allocation_list in AllocationList.objects.filter(
            scheme__study=study, environment=environment
        )
        .select_related("scheme")
        .order_by("scheme__number")
    ]
    allocations = Allocation.objects.filter(study=study, environment=environment)
    total = allocations.count()
    overall_by_arm: dict[str, int] = {}
    if unblinded:
        overall_by_arm = dict.fromkeys(arms, 0)
        for row in allocations.values("arm").annotate(n=Count("id")).order_by("arm"):
            overall_by_arm[row["arm"]] = row["n"]
    listing: list[dict[str, Any]] = []
    if unblinded:
        listing = [
            dict(row)
            for row in allocations.order_by("number").values(
                "number",
                "subject__identifier",
                "subject__site__code",
                "randomised_on",
                "stratum",
                "factors",
                "arm",
                "channel",
                "allocated_by",
            )
        ]
        for row in listing:
            row["arm"] = blinding.arm(row["arm"])
    return RandomisationReport(
        study=study,
        environment=environment,
        unblinded=unblinded,
        generated_at=utc_now(),
        schemes=schemes,
        lists=lists,
        arms=arms if unblinded else [],
        overall=Balance("", total, overall_by_arm),
        by_site=_balances(allocations, "subject__site__code", arms, unblinded),
        by_stratum=_balances(allocations, "stratum", arms, unblinded),
        allocations=listing,
    )


def report_html(report: RandomisationReport, *, standalone: bool) -> str:
    """Return the report's HTML: inside the site's page, or standalone for the PDF."""
    return render_to_string(
        "randomization/report_body.html", {"report": report, "standalone": standalone}
    )


def report_pdf(report: RandomisationReport) -> bytes:
    """Return the report as a PDF (WeasyPrint renders the standalone HTML); `PdfUnavailable`
    where the system lacks Pango."""
    return html_to_pdf(report_html(report, standalone=True))
