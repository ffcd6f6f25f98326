"""Reads of the outage procedure: the reconciliation listing and the sealed envelopes' PDF.

The listing shows each envelope used or found opened beside what Carnet knows: the subject's
stratum from the casebook now, the envelopes of the same stratum left sealed before it, and the
kit. It shows no arm, so blinded data managers and monitors read it. The envelopes' PDF holds
each envelope's arm (inside): only unblinded roles and the server's commands print it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from carnet.accounts.models import StudySite, User
from carnet.accounts.permissions import PermissionDenied, is_unblinded, require, site_scope
from carnet.accounts.roles import Action
from carnet.audit.services import Actor, SystemActor, audit_record
from carnet.capture.models import ItemValue
from carnet.core.clock import utc_now
from carnet.core.errors import ValidationError
from carnet.core.pdf import html_to_pdf
from carnet.randomization.models import BackupList, Envelope
from carnet.randomization.outage import backup_factors
from carnet.randomization.selectors import definition_and_scheme, stratum_key
from carnet.studies.models import Study
from carnet.subjects.environments import environment_written

STRATUM = "stratum"
ORDER = "order"
OPENED = "opened"
KIT = "kit"


@dataclass(frozen=True)
class ReconciliationRow:
    """One envelope used or found opened, and what differs from what Carnet knows (no arm)."""

    envelope: str
    site: str
    envelope_stratum: str
    subject: str
    allocation_number: int | None
    allocated_at: datetime | None
    randomised_on: date | None
    allocated_by: str
    reason: str
    recorded_by: str
    recorded_at: datetime | None
    casebook_stratum: str
    envelope_kit: str
    kit_given: str
    opened_at: datetime | None
    opened_note: str
    issues: list[tuple[str, str]] = field(default_factory=list)  # (code, sentence)

    @property
    def issue_codes(self) -> list[str]:
        return [code for code, _sentence in self.issues]


def _casebook_strata(
    study: Study, environment: str, subject_ids: list[int], site_codes: dict[int, str]
) -> dict[int, str]:
    """Return each subject's stratum from the casebook now (one query for all of them): the
    first occurrence of each factor item, as the randomisation reads it; a factor not entered
    reads ``?``."""
    definition, scheme = definition_and_scheme(study)
    names = backup_factors(scheme)
    items = [name for name in names if name != "site"]
    order = {event.name: index for index, event in enumerate(definition.events)}
    found: dict[tuple[int, str], tuple[tuple[int, int, int], str]] = {}
    rows = ItemValue.objects.filter(
        form_instance__subject_id__in=subject_ids,
        form_instance__environment=environment,
        item__in=items,
        removed=False,
    ).values_list(
        "form_instance__subject_id",
        "item",
        "text",
        "missing_code",
        "form_instance__event",
        "form_instance__occurrence",
        "form_instance__repeat",
    )
    for subject_id, item, text, missing, event, occurrence, repeat in rows:
        if missing or not text:
            continue
        place = (order.get(event, len(order)), occurrence, repeat)
        key = (subject_id, item)
        if key not in found or place < found[key][0]:
            found[key] = (place, text)
    strata = {}
    for subject_id in subject_ids:
        levels = {
            name: site_codes[subject_id]
            if name == "site"
            else found.get((subject_id, name), ((0, 0, 0), "?"))[1]
            for name in names
        }
        strata[subject_id] = stratum_key(levels)
    return strata


def _issues(
    envelope: Mapping[str, Any], casebook: str, sealed_before: bool
) -> list[tuple[str, str]]:
    issues = []
    if envelope["allocation_id"] is None:
        issues.append((OPENED, _("opened, but no allocation with it is recorded")))
        return issues
    if casebook != envelope["stratum"]:
        issues.append(
            (
                STRATUM,
                _("the casebook gives the stratum %(stratum)s")
                % {"stratum": casebook.replace("?", _("(not entered)"))},
            )
        )
    if sealed_before:
        issues.append((ORDER, _("used while an earlier envelope of its stratum is still sealed")))
    if envelope["kit_number"] and envelope["kit_given"] != envelope["kit_number"]:
        issues.append(
            (KIT, _("kit %(kit)s given, not the envelope's") % {"kit": envelope["kit_given"]})
        )
    return issues


def paper_reconciliation(*, actor: User | SystemActor, study: Study) -> list[ReconciliationRow]:
    """Return every envelope used or found opened at the sites ``actor`` sees, with what differs
    (stratum, order, opened without an allocation, kit); never an arm."""
    environment = environment_written(study)
    envelopes = Envelope.objects.filter(
        backup_list__scheme__study=study, backup_list__environment=environment
    )
    if not isinstance(actor, SystemActor):
        require(actor, Action.VIEW_SUBJECTS, study=study)
        scope = site_scope(actor, Action.VIEW_SUBJECTS, study=study)
        if not scope.all_sites:
            envelopes = envelopes.filter(backup_list__site_id__in=scope.site_ids)
    touched = list(
        envelopes.filter(Q(allocation__isnull=False) | Q(opened_at__isnull=False))
        .values(
            "pk",
            "number",
            "backup_list_id",
            "backup_list__site__code",
            "stratum",
            "sequence",
            "kit_number",
            "kit_given",
            "allocation_id",
            "allocation__number",
            "allocation__allocated_at",
            "allocation__randomised_on",
            "allocation__subject_id",
            "allocation__subject__identifier",
            "allocated_by",
            "reason",
            "recorded_by",
            "recorded_at",
            "opened_at",
            "opened_note",
        )
        .order_by("number")
    )
    # The lowest sealed (neither used nor opened) envelope of each stratum of each list.
    sealed: dict[tuple[int, str], int] = {}
    for list_id, stratum, sequence in (
        envelopes.filter(allocation__isnull=True, opened_at__isnull=True)
        .order_by("backup_list_id", "stratum", "sequence")
        .values_list("backup_list_id", "stratum", "sequence")
    ):
        sealed.setdefault((list_id, stratum), sequence)
    subject_ids = [row["allocation__subject_id"] for row in touched if row["allocation_id"]]
    site_codes = {
        row["allocation__subject_id"]: row["backup_list__site__code"]
        for row in touched
        if row["allocation_id"]
    }
    casebook = _casebook_strata(study, environment, subject_ids, site_codes) if subject_ids else {}
    rows = []
    for row in touched:
        first_sealed = sealed.get((row["backup_list_id"], row["stratum"]))
        subject_id = row["allocation__subject_id"]
        stratum_now = casebook.get(subject_id, "") if subject_id else ""
        rows.append(
            ReconciliationRow(
                envelope=row["number"],
                site=row["backup_list__site__code"],
                envelope_stratum=row["stratum"],
                subject=row["allocation__subject__identifier"] or "",
                allocation_number=row["allocation__number"],
                allocated_at=row["allocation__allocated_at"],
                randomised_on=row["allocation__randomised_on"],
                allocated_by=row["allocated_by"],
                reason=row["reason"],
                recorded_by=row["recorded_by"],
                recorded_at=row["recorded_at"],
                casebook_stratum=stratum_now,
                envelope_kit=row["kit_number"],
                kit_given=row["kit_given"],
                opened_at=row["opened_at"],
                opened_note=row["opened_note"],
                issues=_issues(
                    row,
                    stratum_now,
                    first_sealed is not None and first_sealed < row["sequence"],
                ),
            )
        )
    return rows


@dataclass(frozen=True)
class EnvelopeSheet:
    number: str
    stratum: str
    kit_number: str
    arm: str


def _may_print(actor: Actor, study: Study) -> None:
    if isinstance(actor, SystemActor):
        return
    require(actor, Action.VIEW_STUDY, study=study)  # type: ignore[arg-type]
    if not is_unblinded(actor, study=study):  # type: ignore[arg-type]
        raise PermissionDenied(
            _("Only unblinded roles may print the sealed envelopes: they hold the arms.")
        )


def backup_sites(study: Study) -> list[dict[str, Any]]:
    """Return each site of the study with its envelopes: how many, used, opened (no arm)."""
    environment = environment_written(study)
    lists = {
        backup.site_id: backup
        for backup in BackupList.objects.filter(
            scheme__study=study, environment=environment
        ).order_by("scheme__number")
    }
    sites = []
    for site in study.sites.order_by("code"):
        backup = lists.get(site.pk)
        envelopes = Envelope.objects.filter(backup_list=backup) if backup else None
        sites.append(
            {
                "site": site,
                "envelopes": envelopes.count() if envelopes is not None else 0,
                "used": envelopes.filter(allocation__isnull=False).count()
                if envelopes is not None
                else 0,
            }
        )
    return sites


def envelopes_pdf(*, actor: Actor, study: Study, site: StudySite) -> bytes:
    """Return the site's sealed envelopes as a PDF for the pharmacy: per envelope, the outside
    (study, site, stratum, envelope number, kit) and, on its own page to seal inside, the arm.
    Unblinded roles and the server's commands only; each printing is audited."""
    _may_print(actor, study)
    environment = environment_written(study)
    backup = (
        BackupList.objects.filter(scheme__study=study, environment=environment, site=site)
        .order_by("-scheme__number")
        .first()
    )
    if backup is None:
        raise ValidationError(
            "site: "
            + _("site %(site)s has no emergency envelopes: generate them first.")
            % {"site": site.code}
        )
    arms = {arm.name: arm for arm in study.current_version.parsed().arms}  # type: ignore[union-attr]
    sheets = [
        EnvelopeSheet(
            number=number,
            stratum=stratum,
            kit_number=kit,
            arm=f"{arm} ({arms[arm].label.text(get_language() or 'en')})" if arm in arms else arm,
        )
        for number, stratum, kit, arm in backup.envelopes.order_by("number").values_list(
            "number", "stratum", "kit_number", "arm"
        )
    ]
    html = render_to_string(
        "randomization/envelopes.html",
        {
            "study": study,
            "site": site,
            "environment": environment,
            "sheets": sheets,
            "printed_at": utc_now(),
        },
    )
    pdf = html_to_pdf(html)  # `PdfUnavailable` without Pango: nothing printed, nothing audited
    with transaction.atomic():
        audit_record(
            actor=actor,
            action="randomisation.envelopes_printed",
            target=backup,
            new={"site": site.code, "envelopes": len(sheets)},
            chain=study.audit_chain,
        )
    return bytes(pdf)
