"""Rebuild every current value of a study from its audit trail and compare it with the data
tables (`carnet audit verify --data STUDY`): a value edited behind the save pipeline's back (a
direct SQL UPDATE) is named, and so is a value the trail never recorded or one that vanished.

Memory holds one key and one short digest per value, read in chunks, so that a study of
millions of values is compared in one pass over the trail and one over the table. No value is
printed: the sentences name the place, never what a blinded or identifying item holds.
"""

from __future__ import annotations

from django.utils.translation import gettext as _

from carnet.audit.models import AuditEvent
from carnet.capture.models import FormInstance, ItemValue
from carnet.core.hashing import sha256_hex
from carnet.studies.models import Study

CHUNK = 5000
Key = tuple[int, str, int]
State = tuple[str, str, bool]


def _table_text(text: str, audited: str) -> str:
    # Identifying values enter the trail hashed: compare the table's text the same way.
    if audited.startswith("sha256:") and text:
        return f"sha256:{sha256_hex(text.encode())}"
    return text


def _trail_state(study: Study) -> dict[Key, tuple[State, int]]:
    state: dict[Key, tuple[State, int]] = {}
    events = (
        AuditEvent.objects.filter(chain=study.audit_chain, action="item.changed")
        .order_by("seq")
        .values_list("seq", "target_id", "new")
    )
    for seq, target_id, recorded in events.iterator(chunk_size=CHUNK):
        new = recorded or {}
        instance_id, item, row = target_id.split(":")
        state[(int(instance_id), item, int(row))] = (
            (new.get("text", ""), new.get("missing", ""), bool(new.get("removed", False))),
            seq,
        )
    return state


def _where(instances: dict[int, str], key: Key) -> str:
    instance_id, item, row = key
    where = instances.get(instance_id, f"form instance {instance_id}")
    return f"{where} {item}" + (f"[{row}]" if row else "")


def data_replay(identifier: str) -> list[str]:
    """Return one sentence per difference between the study's tables and its trail."""
    study = Study.objects.get(identifier=identifier)
    trail = _trail_state(study)
    instances = {
        pk: f"{subject} {event}#{occurrence} {form}" + (f"#{repeat}" if repeat > 1 else "")
        for pk, subject, event, occurrence, form, repeat in FormInstance.objects.filter(
            subject__study=study
        )
        .values_list("pk", "subject__identifier", "event", "occurrence", "form", "repeat")
        .iterator(chunk_size=CHUNK)
    }
    differences = []
    values = (
        ItemValue.objects.filter(form_instance__subject__study=study)
        .order_by("form_instance_id", "item", "row")
        .values_list("form_instance_id", "item", "row", "text", "missing_code", "removed")
    )
    for instance_id, item, row, text, missing, removed in values.iterator(chunk_size=CHUNK):
        key = (instance_id, item, row)
        audited = trail.pop(key, None)
        if audited is None:
            if text or missing or removed:
                differences.append(
                    _("%(where)s: the table holds a value the trail never recorded.")
                    % {"where": _where(instances, key)}
                )
            continue
        (audited_text, audited_missing, audited_removed), seq = audited
        if (_table_text(text, audited_text), missing, removed) != (
            audited_text,
            audited_missing,
            audited_removed,
        ):
            differences.append(
                _(
                    "%(where)s: the table's value differs from the last one the trail recorded "
                    "(event #%(seq)d)."
                )
                % {"where": _where(instances, key), "seq": seq}
            )
    for key, ((audited_text, audited_missing, audited_removed), seq) in sorted(trail.items()):
        if audited_text or audited_missing or audited_removed:
            differences.append(
                _("%(where)s: the trail recorded a value (event #%(seq)d) the table lacks.")
                % {"where": _where(instances, key), "seq": seq}
            )
    return differences
