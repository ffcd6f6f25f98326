"""A subject's archival casebook: every form and value, signatures and the audit trail, as a PDF.

Made for the site's trial master file (kept 25 years under the EU CTR): the forms and values as
entered, through the blinding policy of the person asking (a site's staff are blinded: an
arm-revealing value reads "(blinded)", the allocation's arm never appears), the form statuses,
the electronic signatures, and every audit event of the subject (who, when in the site's time
zone, what, old, new, why), with the study version, when it was made and a SHA-256 of its
content. Pseudonymised: identifying items and the vault (names, birth date) are left out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import Q
from django.template.loader import render_to_string

from carnet.accounts.blinding import HIDDEN, Blinding
from carnet.accounts.models import Signature
from carnet.audit.models import AuditEvent
from carnet.capture.models import FormInstance, ItemValue
from carnet.core.canonical_json import canonical_json
from carnet.core.clock import utc_now
from carnet.core.hashing import sha256_hex
from carnet.core.pdf import html_to_pdf
from carnet.interop.crf_documents import print_css
from carnet.studies.definition.model import CodeList, Item, StudyDefinition
from carnet.studies.models import StudyVersion
from carnet.subjects.models import Subject

# What an identifying value reads in the archive: it stays at the site, in the source documents.
IDENTIFYING = "(identifying: not archived)"
# Keys of a randomisation event a blinded reader may read; every other one is masked (the arm,
# the draw, the scores, the list entry and the kit all reveal the allocation).
RANDOMISATION_KEYS = frozenset(
    {"subject", "number", "scheme", "method", "stratum", "factors", "randomised_on", "kind"}
)
# Keys of an event that may name a person (the vault): never archived.
VAULT_ACTIONS = frozenset({"subject.identity_changed"})


@dataclass(frozen=True)
class CasebookValue:
    name: str
    label: str
    text: str
    missing: str


@dataclass(frozen=True)
class CasebookRow:
    """A form's non-repeating values (``number`` 0) or one row of a repeating group."""

    group: str
    number: int
    values: list[CasebookValue]


@dataclass(frozen=True)
class CasebookForm:
    event: str
    occurrence: int
    form: str
    repeat: int
    status: str
    not_done_reason: str
    study_version: int
    rows: list[CasebookRow]


@dataclass(frozen=True)
class AuditLine:
    seq: int
    at: datetime
    by: str
    action: str
    what: str
    old: str
    new: str
    reason: str


@dataclass
class CasebookDocument:
    """What a subject's archival casebook holds, as one reader may see it."""

    subject: Subject
    study_version: int
    blinded: bool
    forms: list[CasebookForm]
    signatures: list[Signature]
    audit: list[AuditLine]
    generated_at: datetime = field(default_factory=utc_now)
    content_sha256: str = ""


def _text(item: Item | None, text: str, lists: dict[str, CodeList], language: str) -> str:
    """Return a stored value with its code list's labels: "2 (Lung)"."""
    if item is None or not text or item.code_list not in lists:
        return text
    labels = {str(code.code): code.label.text(language) for code in lists[item.code_list].items}
    codes = text.split(",") if item.type == "multiple_choice" else [text]
    return ", ".join(f"{code} ({labels[code]})" if code in labels else code for code in codes)


def _shown(item: Item | None, text: str, blinding: Blinding) -> str:
    if item is not None and item.identifying and text:
        return IDENTIFYING
    return blinding.text(item, text)


def _forms(
    subject: Subject, definition: StudyDefinition, blinding: Blinding, language: str
) -> tuple[list[CasebookForm], dict[int, tuple[str, str]]]:
    """Return the subject's form instances with their values, and where each instance is."""
    items = {(form.name, item.name): item for form, _group, item in definition.items()}
    lists = {code_list.name: code_list for code_list in definition.code_lists}
    order = {event.name: index for index, event in enumerate(definition.events)}
    instances = list(
        FormInstance.objects.filter(subject=subject, environment=subject.environment).order_by(
            "event", "occurrence", "form", "repeat"
        )
    )
    instances.sort(key=lambda i: (order.get(i.event, len(order)), i.occurrence, i.form, i.repeat))
    # Version numbers only: a version's row carries its whole definition, which selecting it
    # with each instance would decode once per form.
    numbers = dict(StudyVersion.objects.filter(study=subject.study).values_list("pk", "number"))
    values: dict[int, list[ItemValue]] = {}
    for value in ItemValue.objects.filter(
        form_instance__in=[i.pk for i in instances], removed=False
    ).order_by("form_instance_id", "row", "pk"):
        values.setdefault(value.form_instance_id, []).append(value)
    forms, where = [], {}
    for instance in instances:
        where[instance.pk] = (
            instance.form,
            f"{instance.event} {instance.occurrence} {instance.form}",
        )
        rows: dict[tuple[str, int], list[CasebookValue]] = {}
        for value in values.get(instance.pk, []):
            item = items.get((instance.form, value.item))
            text = _shown(item, _text(item, value.text, lists, language), blinding)
            group = value.group if value.row else ""
            rows.setdefault((group, value.row), []).append(
                CasebookValue(
                    value.item,
                    item.label.text(language) if item else value.item,
                    text,
                    value.missing_code,
                )
            )
        forms.append(
            CasebookForm(
                event=instance.event,
                occurrence=instance.occurrence,
                form=instance.form,
                repeat=instance.repeat,
                status=instance.status,
                not_done_reason=instance.not_done_reason,
                study_version=numbers.get(instance.study_version_id, 0),
                rows=[CasebookRow(g, n, v) for (g, n), v in sorted(rows.items())],
            )
        )
    return forms, where


def _flat(value: Any) -> str:
    """Return an audit event's old or new value as one line of text."""
    if value is None or value == {}:
        return ""
    if isinstance(value, dict):
        return "; ".join(f"{key}: {_flat(inner)}" for key, inner in value.items())
    if isinstance(value, list):
        return ", ".join(_flat(inner) for inner in value)
    return str(value)


def _masked_value(event: AuditEvent, value: Any, item: Item | None, blinding: Blinding) -> str:
    """Return an event's old or new value as the reader may read it: the blinding policy on
    item values and randomisation events, identifying values never."""
    if value is None:
        return ""
    if event.action in VAULT_ACTIONS:
        return IDENTIFYING if value else ""
    if event.target_type == "capture.itemvalue" and isinstance(value, dict):
        text = str(value.get("text", ""))
        shown = _shown(item, text, blinding)
        rest = {k: v for k, v in value.items() if k in {"missing", "removed"} and v}
        return "; ".join(filter(None, [shown, _flat(rest)]))
    if event.target_type.startswith("randomization.") and not blinding.unblinded:
        if isinstance(value, dict):
            return _flat({k: (v if k in RANDOMISATION_KEYS else HIDDEN) for k, v in value.items()})
        return HIDDEN
    if isinstance(value, dict) and not blinding.unblinded and "arm" in value:
        value = {**value, "arm": blinding.arm(str(value["arm"]))}
    return _flat(value)


def _audit(
    subject: Subject,
    definition: StudyDefinition,
    where: dict[int, tuple[str, str]],
    blinding: Blinding,
) -> list[AuditLine]:
    """Return every audit event of the subject, oldest first, as the reader may read them."""
    items = {(form.name, item.name): item for form, _group, item in definition.items()}
    instance_ids = [str(pk) for pk in where]
    targets = Q(target_type="subjects.subject", target_id=str(subject.pk)) | Q(
        target_type="capture.forminstance", target_id__in=instance_ids
    )
    # The reverse side of randomisation's one-to-one (an attribute, not an import).
    allocation = getattr(subject, "allocation", None)
    if allocation is not None:
        targets |= Q(target_type="randomization.allocation", target_id=str(allocation.pk))
    for pk in where:
        targets |= Q(target_type="capture.itemvalue", target_id__startswith=f"{pk}:")
    lines = []
    events = AuditEvent.objects.filter(targets, chain=subject.study.audit_chain).order_by("seq")
    for event in events.iterator(chunk_size=2000):
        item: Item | None = None
        what = event.target_type
        if event.target_type == "capture.itemvalue":
            instance_id, name, row = ([*event.target_id.split(":"), "", ""])[:3]
            form, place = where.get(int(instance_id), ("", ""))
            item = items.get((form, name))
            what = f"{place} · {name}" + (f" [{row}]" if row not in {"", "0"} else "")
        elif event.target_type == "capture.forminstance":
            what = where.get(int(event.target_id), ("", event.target_id))[1]
        lines.append(
            AuditLine(
                seq=event.seq,
                at=event.occurred_at,
                by=event.actor_label,
                action=event.action,
                what=what,
                old=_masked_value(event, event.old, item, blinding),
                new=_masked_value(event, event.new, item, blinding),
                reason=event.reason,
            )
        )
    return lines


def _signatures(subject: Subject, where: dict[int, tuple[str, str]]) -> list[Signature]:
    records = Q(record_type="subjects.subject", record_id=str(subject.pk)) | Q(
        record_type="capture.forminstance", record_id__in=[str(pk) for pk in where]
    )
    return list(Signature.objects.filter(records, study=subject.study).order_by("signed_at"))


def _content_hash(document: CasebookDocument) -> str:
    """Return the SHA-256 of what the casebook says (not of the PDF, which cannot hold its own
    hash): the same data always give the same hash, whenever the PDF is made."""
    content = {
        "study": document.subject.study.identifier,
        "subject": document.subject.identifier,
        "study_version": document.study_version,
        "blinded": document.blinded,
        "forms": [
            [f.event, f.occurrence, f.form, f.repeat, f.status, f.not_done_reason]
            + [[r.group, r.number, [[v.name, v.text, v.missing] for v in r.values]] for r in f.rows]
            for f in document.forms
        ],
        "signatures": [
            [s.signer_name, s.signed_at.isoformat(), s.meaning] for s in document.signatures
        ],
        "audit": [
            [a.seq, a.at.isoformat(), a.by, a.action, a.what, a.old, a.new, a.reason]
            for a in document.audit
        ],
    }
    return sha256_hex(canonical_json(content).encode("utf-8"))


def casebook_document(
    *, subject: Subject, blinding: Blinding, language: str = "en"
) -> CasebookDocument:
    """Return the subject's archival casebook as ``blinding`` lets its reader see it (the
    caller has checked that they may see the subject)."""
    version = subject.study.current_version
    assert version is not None
    definition = version.parsed()
    forms, where = _forms(subject, definition, blinding, language)
    document = CasebookDocument(
        subject=subject,
        study_version=version.number,
        blinded=not blinding.unblinded,
        forms=forms,
        signatures=_signatures(subject, where),
        audit=_audit(subject, definition, where, blinding),
    )
    document.content_sha256 = _content_hash(document)
    return document


def casebook_html(document: CasebookDocument, *, language: str = "en") -> str:
    """Return the casebook as a standalone printable HTML page (its style sheet inlined)."""
    return render_to_string(
        "interop/documents/casebook_body.html",
        {"book": document, "language": language, "inline_css": print_css()},
    )


def casebook_pdf(document: CasebookDocument, *, language: str = "en") -> bytes:
    """Return the casebook as a PDF; `PdfUnavailable` where the system lacks Pango."""
    return html_to_pdf(casebook_html(document, language=language))
