"""The audit trail as data managers, administrators and inspectors browse it: one study's chain,
filtered in the database (subject, form, item, user, action, dates), read by keyset pages along
the chain's sequence (a study of millions of events reads a page as fast as the first), every
value shown through the blinding policy; and its CSV (streamed) and PDF exports."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from django.db.models import Q, QuerySet
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.translation import gettext as _

from carnet.accounts.blinding import HIDDEN, Blinding, blinding_of
from carnet.accounts.models import User
from carnet.accounts.permissions import PermissionDenied, site_scope
from carnet.accounts.roles import Action
from carnet.audit.models import SYSTEM_CHAIN, AuditEvent
from carnet.capture.models import FormInstance
from carnet.core.errors import ValidationError
from carnet.core.pdf import html_to_pdf
from carnet.studies.models import Study
from carnet.subjects.models import Subject

PER_PAGE = 50
# What a blinded person may read of a randomisation event; every other key reads HIDDEN.
_RANDOMISATION_VISIBLE = frozenset(
    {"subject", "number", "scheme", "method", "randomised_on", "kind", "reason", "signature"}
)
# Keys that name a treatment wherever they appear.
_ARM_KEYS = frozenset({"arm", "kit_number", "draw", "list_entry", "arms", "treatment"})
FILTERS = ("subject", "form", "item", "user", "action", "since", "until")


@dataclass(frozen=True)
class TrailFilters:
    """What the reader narrows the trail to; empty fields filter nothing."""

    subject: str = ""
    form: str = ""
    item: str = ""
    user: str = ""
    action: str = ""
    since: date | None = None
    until: date | None = None

    @classmethod
    def read(cls, values: dict[str, str]) -> TrailFilters:
        """Return the filters of a query string or command line; refuse a malformed date."""

        def day(name: str) -> date | None:
            text = (values.get(name) or "").strip()
            if not text:
                return None
            try:
                return date.fromisoformat(text)
            except ValueError as error:
                raise ValidationError(
                    _("%(field)s: write the date as YYYY-MM-DD.") % {"field": name}
                ) from error

        return cls(
            **{name: (values.get(name) or "").strip() for name in FILTERS[:5]},
            since=day("since"),
            until=day("until"),
        )

    def query(self) -> dict[str, str]:
        """Return the filters as query-string values (the empty ones left out)."""
        found = {name: str(getattr(self, name) or "") for name in FILTERS}
        return {name: value for name, value in found.items() if value}


@dataclass(frozen=True)
class TrailRow:
    """One event as the reader sees it: who, when, what, old, new, why."""

    seq: int
    occurred_at: datetime
    who: str
    action: str
    what: str
    old: str
    new: str
    why: str


@dataclass
class TrailPage:
    rows: list[TrailRow]
    next_before: int | None  # the keyset of the next (older) page; None at the chain's start
    filters: TrailFilters
    head: int = 0  # the chain's last event, for "n events in the chain"
    errors: list[str] = field(default_factory=list)


def trail_study_check(actor: User, study: Study) -> None:
    """Refuse a person who may not browse the study's whole trail.

    The trail holds every site's events: only a right over all the study's sites opens it."""
    if not site_scope(actor, Action.VIEW_AUDIT_TRAIL, study=study).all_sites:
        raise PermissionDenied(
            _("You may not read the audit trail of %(study)s.") % {"study": study.identifier}
        )


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min), timezone.get_current_timezone())


def trail_events(chain: str, filters: TrailFilters, *, study: Study | None) -> QuerySet[AuditEvent]:
    """Return the chain's events the filters keep, latest first (filtered in the database)."""
    events = AuditEvent.objects.filter(chain=chain)
    if filters.subject and study is not None:
        subject = Subject.objects.filter(study=study, identifier=filters.subject).first()
        about = Q(new__subject=filters.subject) | Q(old__subject=filters.subject)
        if subject is not None:
            instances = [
                str(pk)
                for pk in FormInstance.objects.filter(subject=subject).values_list("pk", flat=True)
            ]
            about |= Q(target_type="subjects.subject", target_id=str(subject.pk))
            about |= Q(target_type="capture.forminstance", target_id__in=instances)
        events = events.filter(about)
    if filters.form:
        events = events.filter(new__form=filters.form)
    if filters.item:
        events = events.filter(new__item=filters.item)
    if filters.user:
        events = events.filter(actor_label__icontains=filters.user)
    if filters.action:
        if filters.action.endswith("."):
            events = events.filter(action__startswith=filters.action)
        else:
            events = events.filter(action=filters.action)
    if filters.since:
        events = events.filter(occurred_at__gte=_day_start(filters.since))
    if filters.until:
        events = events.filter(occurred_at__lt=_day_start(filters.until + timedelta(days=1)))
    return events.order_by("-seq")


class Masker:
    """Shows an event's values as one reader may: arm-revealing items and treatment keys
    masked for a blinded reader (the study's definition read once)."""

    def __init__(self, study: Study | None, blinding: Blinding) -> None:
        self.blinding = blinding
        self.hidden: set[tuple[str, str]] = set()
        version = study.current_version if study is not None else None
        if version is not None and not blinding.unblinded:
            definition = version.parsed()
            self.hidden = {
                (form.name, item.name)
                for form in definition.forms
                for group in form.groups
                for item in group.items
                if blinding.conceals(item)
            }

    def _value(self, event: AuditEvent, value: Any) -> Any:
        if self.blinding.unblinded or not isinstance(value, dict):
            return value
        new = event.new if isinstance(event.new, dict) else {}
        if (new.get("form"), new.get("item")) in self.hidden:
            return {key: HIDDEN if key == "text" and part else part for key, part in value.items()}
        if event.action.startswith("randomisation."):
            return {
                key: part if key in _RANDOMISATION_VISIBLE or not part else HIDDEN
                for key, part in value.items()
            }
        return {key: HIDDEN if key in _ARM_KEYS and part else part for key, part in value.items()}

    def row(self, event: AuditEvent) -> TrailRow:
        return TrailRow(
            seq=event.seq,
            occurred_at=event.occurred_at,
            who=event.actor_label,
            action=event.action,
            what=_what(event),
            old=_text(self._value(event, event.old)),
            new=_text(self._value(event, event.new)),
            why=event.reason,
        )


def _what(event: AuditEvent) -> str:
    """Return what the event is about: the subject, visit, form and item where known."""
    new = event.new if isinstance(event.new, dict) else {}
    parts = []
    if new.get("subject"):
        parts.append(str(new["subject"]))
    if new.get("event"):
        parts.append(f"{new['event']}#{new.get('occurrence') or 1}")
    if new.get("form"):
        parts.append(str(new["form"]))
    if new.get("item"):
        row = new.get("row") or 0
        parts.append(f"{new['item']}" + (f"[{row}]" if row else ""))
    if not parts and event.target_type:
        parts.append(f"{event.target_type}:{event.target_id}")
    return " ".join(parts)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict) and set(value) >= {"text", "missing", "removed"}:
        # An item's value: its text, missing code or removal, not the whole record.
        if value.get("removed"):
            return _("(row removed)")
        return str(value.get("text") or value.get("missing") or "")
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def _masker(actor: User, study: Study | None) -> Masker:
    if study is None:  # the system chain holds no clinical values
        return Masker(None, Blinding(unblinded=True))
    return Masker(study, blinding_of(actor, study=study))


def trail_page(
    actor: User,
    *,
    study: Study | None,
    filters: TrailFilters,
    before: int | None = None,
    per_page: int = PER_PAGE,
) -> TrailPage:
    """Return one page of a study's trail (the system's when ``study`` is None, for system
    administrators), older than ``before``."""
    if study is None:
        if not actor.is_superuser:
            raise PermissionDenied(_("Only administrators read the system's audit trail."))
        chain = SYSTEM_CHAIN
    else:
        trail_study_check(actor, study)
        chain = study.audit_chain
    events = trail_events(chain, filters, study=study)
    if before is not None:
        events = events.filter(seq__lt=before)
    found = list(events[: per_page + 1])
    masker = _masker(actor, study)
    rows = [masker.row(event) for event in found[:per_page]]
    head = AuditEvent.objects.filter(chain=chain).order_by("-seq").values_list("seq", flat=True)
    return TrailPage(
        rows=rows,
        next_before=rows[-1].seq if len(found) > per_page else None,
        filters=filters,
        head=head.first() or 0,
    )


def trail_rows(actor: User | None, *, study: Study, filters: TrailFilters) -> Iterator[TrailRow]:
    """Return every event the filters keep, oldest first, read in chunks (for the exports).

    ``actor`` None is the command line: blinded unless the caller unmasks (``trail_file``)."""
    if actor is not None:
        trail_study_check(actor, study)
    masker = _masker(actor, study) if actor is not None else Masker(study, Blinding(False))
    events = trail_events(study.audit_chain, filters, study=study).order_by("seq")
    for event in events.iterator(chunk_size=2000):
        yield masker.row(event)


CSV_HEADER = ("seq", "when_utc", "who", "action", "what", "old", "new", "why")


class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_lines(rows: Iterable[TrailRow]) -> Iterator[str]:
    """Return the CSV lines of the rows, one at a time (a streamed response writes them)."""
    writer = csv.writer(_Echo())
    yield writer.writerow(CSV_HEADER)
    for row in rows:
        yield writer.writerow(
            (
                row.seq,
                row.occurred_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
                row.who,
                row.action,
                _safe(row.what),
                _safe(row.old),
                _safe(row.new),
                _safe(row.why),
            )
        )


def _safe(text: str) -> str:
    # A cell starting with = + - @ would run as a formula in a spreadsheet.
    return "'" + text if text[:1] in {"=", "+", "-", "@"} else text


# A PDF lays every event out on paper: past this many, the CSV is the export to use.
PDF_LIMIT = 5000


def trail_pdf(rows: Iterable[TrailRow], *, study: Study, filters: TrailFilters) -> bytes:
    """Return the filtered trail as a PDF (at most PDF_LIMIT events; refuses more)."""
    listed: list[TrailRow] = []
    for row in rows:
        if len(listed) == PDF_LIMIT:
            raise ValidationError(
                _("More than %(limit)d events: narrow the filters, or export as CSV.")
                % {"limit": PDF_LIMIT}
            )
        listed.append(row)
    html = render_to_string(
        "oversight/trail_pdf.html",
        {"study": study, "rows": listed, "filters": filters.query(), "count": len(listed)},
    )
    return html_to_pdf(html)


def trail_file(*, study: str, filters: dict[str, str], output: Path, unblinded: bool) -> int:
    """Write a study's filtered trail to ``output`` (CSV, or PDF by its extension): the
    `carnet audit trail` command, run on the server; blinded unless asked otherwise."""
    found = Study.objects.filter(identifier=study).first()
    if found is None:
        raise ValidationError(_("There is no study %(study)s.") % {"study": study})
    read = TrailFilters.read(filters)
    masker = Masker(found, Blinding(unblinded=unblinded))
    events = trail_events(found.audit_chain, read, study=found).order_by("seq")
    rows = [masker.row(event) for event in events.iterator(chunk_size=2000)]
    if output.suffix.lower() == ".pdf":
        output.write_bytes(trail_pdf(rows, study=found, filters=read))
    else:
        with output.open("w", encoding="utf-8", newline="") as handle:
            handle.writelines(csv_lines(rows))
    return len(rows)
