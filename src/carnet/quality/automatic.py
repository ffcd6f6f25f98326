"""Automatic queries: a soft check that fires opens one; a correction that clears it closes it.

One path for every writer of check results: the save pipeline's listener (one form instance)
and the whole-study re-check (thousands of results at once) both call `automatic_queries_sync`,
which works in bulk: a few statements whatever the number of results, and its audit events
appended in one go. The site's "confirmed correct" (`CheckAcknowledgement`) holds while the
values the check read are unchanged: `acknowledged_check_keys` says which do.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.db.models import Q

from carnet.audit.services import AuditEntry, audit_record_many
from carnet.capture.models import CheckResult, ItemValue
from carnet.capture.seams import WriteContext
from carnet.core.clock import utc_now
from carnet.core.hashing import sha256_of_json
from carnet.db.bulk import rows_insert
from carnet.quality.models import (
    ACTIVE_STATES,
    CheckAcknowledgement,
    MessageKind,
    Query,
    QueryKind,
    QueryMessage,
    QueryScope,
    QuerySettings,
    QueryState,
    Resolution,
)

if TYPE_CHECKING:
    from carnet.audit.services import Actor
    from carnet.studies.models import Study

# SQLite takes at most 32,766 parameters a statement: ids go in slices well below that.
_SLICE = 5000
AUTOMATIC_LABEL = "Carnet (edit check)"


def _slices(ids: Sequence[int]) -> Iterator[list[int]]:
    ordered = sorted(set(ids))
    for start in range(0, len(ordered), _SLICE):
        yield ordered[start : start + _SLICE]


def query_settings_of(study: Study) -> QuerySettings:
    """Return the study's query options (the defaults where none were set)."""
    found = QuerySettings.objects.filter(study=study).first()
    return found if found is not None else QuerySettings(study=study)


# --- Acknowledgements ("confirmed correct") ---------------------------------------------


def values_fingerprint(
    values: Iterable[tuple[str, int, str, str, bool]], *, items: Sequence[str], row: int
) -> str:
    """Return the fingerprint of the values a check read: (item, row, text, missing, removed)
    of its items, in its row (every row for a check of the whole form)."""
    wanted = set(items)
    kept = sorted(
        [item, value_row, text, missing, removed]
        for item, value_row, text, missing, removed in values
        if item in wanted and (row == 0 or value_row == row)
    )
    return sha256_of_json(kept)


def _values_by_form(form_instance_ids: Sequence[int]) -> dict[int, list[tuple[Any, ...]]]:
    found: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
    for chunk in _slices(form_instance_ids):
        for form_id, *value in ItemValue.objects.filter(form_instance_id__in=chunk).values_list(
            "form_instance_id", "item", "row", "text", "missing_code", "removed"
        ):
            found[form_id].append(tuple(value))
    return found


def fingerprint_of(*, form_instance_id: int, items: Sequence[str], row: int) -> str:
    """Return the fingerprint of the values a check reads now on one form instance."""
    return values_fingerprint(
        _values_by_form([form_instance_id]).get(form_instance_id, []), items=items, row=row
    )


def acknowledged_check_keys(*, study: Study) -> set[tuple[int, str, int]]:
    """Return the (form instance id, check name, row) of soft checks the site confirmed
    correct and whose values have not changed since: a re-check opens no query for them."""
    return _acknowledged(study)


def _acknowledged(
    study: Study, form_instance_ids: Sequence[int] | None = None
) -> set[tuple[int, str, int]]:
    """`acknowledged_check_keys`, narrowed to some form instances (a save reads its own)."""
    # The study is compared on the rows read, as in `_result_rows`: in the WHERE clause SQLite
    # walks every form of the study (subjects by study, then their forms) to find the few
    # acknowledgements (confirmed by a person, one at a time: a small table).
    acknowledgements = CheckAcknowledgement.objects.all()
    if form_instance_ids is not None:
        acknowledgements = acknowledgements.filter(form_instance_id__in=form_instance_ids)
    latest: dict[tuple[int, str, int], tuple[list[str], str]] = {}
    for study_id, form_id, check_name, row, items, fingerprint in acknowledgements.order_by(
        "created_at", "pk"
    ).values_list(
        "form_instance__subject__study_id",
        "form_instance_id",
        "check_name",
        "row",
        "items",
        "fingerprint",
    ):
        if study_id == study.pk:
            latest[(form_id, check_name, row)] = (items, fingerprint)
    if not latest:
        return set()
    values = _values_by_form([key[0] for key in latest])
    return {
        key
        for key, (items, fingerprint) in latest.items()
        if values_fingerprint(values.get(key[0], []), items=items, row=key[2]) == fingerprint
    }


# --- Opening and closing in bulk --------------------------------------------------------


@dataclass
class Synced:
    """What a sync did: counts, the audit events to append, the queries opened per site."""

    opened: int = 0
    closed: int = 0
    entries: list[AuditEntry] = field(default_factory=list)
    opened_by_site: dict[int, int] = field(default_factory=dict)


def _result_rows(study: Study, ids: Sequence[int]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for chunk in _slices(ids):
        # The study is compared on the rows read rather than in the WHERE clause: given it,
        # SQLite walks every form of the study instead of the few results asked for by key
        # (4 s instead of 8 ms for 3,000 results of a 600-subject study).
        rows.extend(
            dict(found)
            for found in CheckResult.objects.filter(pk__in=chunk, open=True)
            .exclude(queries__state__in=ACTIVE_STATES)
            .order_by()  # not the model's order: it joins the study's tables only to sort
            .values(
                "form_instance__subject__study_id",
                "pk",
                "check_name",
                "row",
                "items",
                "message_en",
                "form_instance_id",
                "form_instance__event",
                "form_instance__occurrence",
                "form_instance__form",
                "form_instance__subject_id",
                "form_instance__subject__site_id",
            )
            if found["form_instance__subject__study_id"] == study.pk
        )
    return rows


def _queries_open(
    study: Study,
    ids: Sequence[int],
    actor: Actor,
    reason: str,
    synced: Synced,
    acknowledged: set[tuple[int, str, int]] | None = None,
) -> None:
    rows = _result_rows(study, ids)
    if not rows:
        return
    form_ids = sorted({row["form_instance_id"] for row in rows})
    if acknowledged is None:
        # A few forms (a save): their own acknowledgements; many: the study's at once. A
        # re-check passes those it has just read.
        acknowledged = _acknowledged(study, form_ids if len(form_ids) <= _SLICE else None)
    now = utc_now()
    queries = [
        Query(
            study=study,
            site_id=row["form_instance__subject__site_id"],
            subject_id=row["form_instance__subject_id"],
            kind=QueryKind.AUTOMATIC,
            scope=QueryScope.ITEM if row["items"] else QueryScope.FORM,
            form_instance_id=row["form_instance_id"],
            event=row["form_instance__event"],
            occurrence=row["form_instance__occurrence"],
            form=row["form_instance__form"],
            item=(row["items"] or [""])[0],
            row=row["row"],
            check_result_id=row["pk"],
            check_name=row["check_name"],
            text=row["message_en"],
            raised_by_label=AUTOMATIC_LABEL,
            opened_at=now,
            updated_at=now,
        )
        for row in rows
        if (row["form_instance_id"], row["check_name"], row["row"]) not in acknowledged
    ]
    rows_insert(queries)
    rows_insert(
        [
            QueryMessage(
                query_id=query.pk,
                kind=MessageKind.RAISED,
                text=query.text,
                author_label=AUTOMATIC_LABEL,
                state=QueryState.OPEN,
                created_at=now,
            )
            for query in queries
        ]
    )
    for query in queries:
        synced.opened_by_site[query.site_id] = synced.opened_by_site.get(query.site_id, 0) + 1
        synced.entries.append(
            AuditEntry(
                action="query.opened",
                target=("quality.query", str(query.pk)),
                new={
                    "kind": QueryKind.AUTOMATIC.value,
                    "check": query.check_name,
                    "form_instance": query.form_instance_id,
                    "item": query.item,
                    "row": query.row,
                    "state": QueryState.OPEN.value,
                },
                reason=reason,
            )
        )
    synced.opened += len(queries)


def _queries_close(study: Study, ids: Sequence[int], reason: str, synced: Synced) -> None:
    now = utc_now()
    for chunk in _slices(ids):
        waiting = Query.objects.filter(
            study=study,
            kind=QueryKind.AUTOMATIC,
            state__in=ACTIVE_STATES,
            check_result_id__in=chunk,
        ).filter(Q(check_result__open=False))
        found = list(waiting.values_list("pk", "state"))
        if not found:
            continue
        Query.objects.filter(pk__in=[pk for pk, _state in found]).update(
            state=QueryState.CLOSED,
            resolution=Resolution.CORRECTED,
            closed_at=now,
            updated_at=now,
        )
        rows_insert(
            [
                QueryMessage(
                    query_id=pk,
                    kind=MessageKind.CORRECTED,
                    author_label=AUTOMATIC_LABEL,
                    state=QueryState.CLOSED,
                    created_at=now,
                )
                for pk, _state in found
            ]
        )
        synced.entries.extend(
            AuditEntry(
                action="query.closed",
                target=("quality.query", str(pk)),
                old={"state": state},
                new={"state": QueryState.CLOSED.value, "resolution": Resolution.CORRECTED.value},
                reason=reason,
            )
            for pk, state in found
        )
        synced.closed += len(found)


def automatic_queries_synced(
    *,
    study: Study,
    opened_check_result_ids: Sequence[int],
    closed_check_result_ids: Sequence[int],
    actor: Actor,
    reason: str,
    acknowledged: set[tuple[int, str, int]] | None = None,
) -> Synced:
    """Open and close automatic queries in bulk; return what was done and the audit events,
    for a caller that appends them itself (the save pipeline's listener). ``acknowledged``:
    the confirmed-correct firings, when the caller has read them already."""
    synced = Synced()
    _queries_open(study, opened_check_result_ids, actor, reason, synced, acknowledged)
    if closed_check_result_ids and query_settings_of(study).auto_close:
        _queries_close(study, closed_check_result_ids, reason, synced)
    return synced


@transaction.atomic
def automatic_queries_sync(
    *,
    study: Study,
    opened_check_result_ids: Sequence[int],
    closed_check_result_ids: Sequence[int],
    actor: Actor,
    reason: str,
    acknowledged: set[tuple[int, str, int]] | None = None,
) -> tuple[int, int]:
    """Open an automatic query for each open check result given that has none waiting (unless
    the site confirmed its values correct and they are unchanged), close those of the closed
    check results given (unless the study wants a person to close them); return (opened, closed).

    Idempotent: a result that already has a waiting query, or whose query is closed, is left
    alone. The audit events are appended to the study's chain in one go; the sites hear of
    their new queries once the transaction commits.
    """
    synced = automatic_queries_synced(
        study=study,
        opened_check_result_ids=opened_check_result_ids,
        closed_check_result_ids=closed_check_result_ids,
        actor=actor,
        reason=reason,
        acknowledged=acknowledged,
    )
    audit_record_many(actor=actor, entries=synced.entries, chain=study.audit_chain)
    if synced.opened_by_site:
        _notify_after_commit(study, synced.opened_by_site)
    return synced.opened, synced.closed


def _notify_after_commit(study: Study, opened_by_site: dict[int, int]) -> None:
    from carnet.quality.notifications import sites_notify

    study_id, counts = study.pk, dict(opened_by_site)
    transaction.on_commit(
        lambda: sites_notify(study_id=study_id, opened_by_site=counts), robust=True
    )


# --- The save pipeline's listener ----------------------------------------------------------


def queries_follow_checks(context: WriteContext) -> None:
    """Listener: open the automatic queries of this form's new check results, close those of
    the results the save closed; the audit events go with the save's."""
    instance = context.form_instance
    if instance.pk is None or context.new_form_without_checks():
        return
    opened = list(
        CheckResult.objects.filter(form_instance=instance, open=True)
        .exclude(queries__state__in=ACTIVE_STATES)
        .values_list("pk", flat=True)
    )
    closed = list(
        Query.objects.filter(
            form_instance=instance,
            kind=QueryKind.AUTOMATIC,
            state__in=ACTIVE_STATES,
            check_result__open=False,
        ).values_list("check_result_id", flat=True)
    )
    if not opened and not closed:
        return
    study = context.subject.study
    synced = automatic_queries_synced(
        study=study,
        opened_check_result_ids=opened,
        closed_check_result_ids=[pk for pk in closed if pk is not None],
        actor=context.actor,
        reason=context.reason,
    )
    context.audit.extend(synced.entries)
    if synced.opened_by_site:
        study_id, counts = study.pk, dict(synced.opened_by_site)

        def notify() -> None:
            from carnet.quality.notifications import sites_notify

            sites_notify(study_id=study_id, opened_by_site=counts)

        context.after_commit(notify)


def queries_follow_checks_many(contexts: Sequence[WriteContext]) -> None:
    """`queries_follow_checks` on many writes (a wave of an import), set-wise: two reads find
    the check results to open or close queries for, one sync per reason opens and closes them
    all, and each write gets its own audit events (in the order its own sync would give them);
    the sites hear of the wave's new queries once, after the commit."""
    by_instance = {
        c.form_instance.pk: c
        for c in contexts
        if c.form_instance.pk is not None and not c.new_form_without_checks()
    }
    ids = sorted(by_instance)
    opened: dict[int, list[int]] = defaultdict(list)
    closed: dict[int, list[int]] = defaultdict(list)
    for chunk in _slices(ids):
        for instance_id, pk in (
            CheckResult.objects.filter(form_instance_id__in=chunk, open=True)
            .exclude(queries__state__in=ACTIVE_STATES)
            .order_by("pk")
            .values_list("form_instance_id", "pk")
        ):
            opened[instance_id].append(pk)
        for instance_id, pk in (
            Query.objects.filter(
                form_instance_id__in=chunk,
                kind=QueryKind.AUTOMATIC,
                state__in=ACTIVE_STATES,
                check_result__open=False,
            )
            .order_by("check_result_id")
            .values_list("form_instance_id", "check_result_id")
        ):
            if pk is not None:
                closed[instance_id].append(pk)
    busy = [by_instance[i] for i in ids if opened.get(i) or closed.get(i)]
    if not busy:
        return
    study = busy[0].subject.study
    groups: dict[str, list[WriteContext]] = defaultdict(list)
    for context in busy:
        groups[context.reason].append(context)
    opened_by_site: dict[int, int] = {}
    for reason, group in groups.items():
        synced = automatic_queries_synced(
            study=study,
            opened_check_result_ids=[pk for c in group for pk in opened[c.form_instance.pk]],
            closed_check_result_ids=[pk for c in group for pk in closed[c.form_instance.pk]],
            actor=group[0].actor,
            reason=reason,
        )
        query_instances = dict(
            Query.objects.filter(
                pk__in=[int(e.target[1]) for e in synced.entries if isinstance(e.target, tuple)]
            ).values_list("pk", "form_instance_id")
        )
        for entry in synced.entries:
            assert isinstance(entry.target, tuple)
            by_instance[query_instances[int(entry.target[1])]].audit.append(entry)
        for site, count in synced.opened_by_site.items():
            opened_by_site[site] = opened_by_site.get(site, 0) + count
    if opened_by_site:
        study_id = study.pk

        def notify() -> None:
            from carnet.quality.notifications import sites_notify

            sites_notify(study_id=study_id, opened_by_site=opened_by_site)

        busy[-1].after_commit(notify)
