"""Proof of the randomisation: replay every allocation of a study and report any difference.

`study_randomisation_verify` reads what was recorded when each allocation was made (the
``randomisation.allocated`` audit event: factor levels, draw, list entry, arm), and replays it in
allocation order from the stored scheme definition, the list's seed (generated lists are
regenerated) and the recorded draws (minimisation is recomputed from the replayed allocations
before it). It then compares the replay, the audit trail and the rows in the database. An arm
edited in SQL, a list entry swapped or an audit record that no longer matches is reported.

Differences never name an arm: the report of a failed verification may reach blinded people.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from carnet.audit.models import AuditEvent
from carnet.core.hashing import sha256_of_json
from carnet.randomization.blocks import stratum_list
from carnet.randomization.minimisation import (
    MarginalCounts,
    minimisation_allocate,
    simple_allocate,
)
from carnet.randomization.models import (
    Allocation,
    AllocationList,
    Envelope,
    ListEntry,
    Method,
    Scheme,
)
from carnet.randomization.selectors import stratum_key
from carnet.randomization.services import list_entries_sha256
from carnet.studies.models import Study

_TOLERANCE = 1e-9


@dataclass(frozen=True)
class Difference:
    """One disagreement: which allocation (or list), and what differs (no arm named)."""

    where: str
    what: str

    def __str__(self) -> str:
        return f"{self.where}: {self.what}"


@dataclass
class Verification:
    study: str
    allocations: int = 0
    entries: int = 0
    differences: list[Difference] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.differences

    def differ(self, where: str, what: str) -> None:
        self.differences.append(Difference(where, what))


def _allocation_name(allocation: Allocation) -> str:
    return _("allocation %(number)s (%(environment)s, %(subject)s)") % {
        "number": allocation.number,
        "environment": allocation.environment,
        "subject": allocation.subject.identifier,
    }


def _recorded_events(study: Study) -> dict[str, dict[str, Any]]:
    """Return each allocation's ``randomisation.allocated`` record, by allocation id."""
    events = AuditEvent.objects.filter(
        chain=study.audit_chain,
        action="randomisation.allocated",
        target_type="randomization.allocation",
    ).values_list("target_id", "new")
    return {target_id: new or {} for target_id, new in events}


def _verify_lists(study: Study, result: Verification) -> dict[int, dict[tuple[str, int], str]]:
    """Check each list against its seed (generated) and return the expected arm of each entry."""
    expected: dict[int, dict[tuple[str, int], str]] = {}
    lists = AllocationList.objects.filter(scheme__study=study).select_related("scheme")
    for allocation_list in lists:
        where = _("list of scheme %(scheme)s (%(environment)s)") % {
            "scheme": allocation_list.scheme.number,
            "environment": allocation_list.environment,
        }
        entries = list(
            allocation_list.entries.order_by("stratum", "sequence").values_list(
                "stratum", "sequence", "arm"
            )
        )
        result.entries += len(entries)
        stored = {(stratum, sequence): arm for stratum, sequence, arm in entries}
        if allocation_list.source != AllocationList.Source.GENERATED:
            expected[allocation_list.pk] = stored
            _verify_imported(study, allocation_list, where, result)
            continue
        definition = allocation_list.scheme.definition
        lengths: dict[str, int] = defaultdict(int)
        for stratum, sequence in stored:
            lengths[stratum] = max(lengths[stratum], sequence)
        regenerated: dict[tuple[str, int], str] = {}
        for stratum, length in lengths.items():
            for entry in stratum_list(
                seed=int(allocation_list.seed),
                stratum=stratum,
                arms=definition["arms"],
                ratio=definition["ratio"],
                block_sizes=definition["block_sizes"],
                length=length,
            ):
                regenerated[(entry.stratum, entry.sequence)] = entry.arm
        for key, arm in stored.items():
            if regenerated.get(key) != arm:
                result.differ(
                    where,
                    _("entry %(stratum)s #%(sequence)s is not the one its seed generates.")
                    % {"stratum": key[0], "sequence": key[1]},
                )
        expected[allocation_list.pk] = regenerated
    return expected


def _verify_imported(
    study: Study, allocation_list: AllocationList, where: str, result: Verification
) -> None:
    """An imported list has no seed: its entries must hash as the last import recorded."""
    last = (
        AuditEvent.objects.filter(
            chain=study.audit_chain,
            action="randomisation.list_imported",
            target_type="randomization.allocationlist",
            target_id=str(allocation_list.pk),
        )
        .order_by("-seq")
        .values_list("new", flat=True)
        .first()
    )
    if last is None or last.get("entries_sha256") != list_entries_sha256(allocation_list):
        result.differ(where, _("the entries do not hash as the last import recorded."))


def _compare(result: Verification, where: str, label: str, recorded: Any, stored: Any) -> None:
    if recorded != stored:
        result.differ(
            where,
            _("the %(field)s in the database differs from the audit trail.") % {"field": label},
        )


def study_randomisation_verify(study: Study) -> Verification:
    """Replay every allocation of ``study`` (each environment, in allocation order)."""
    result = Verification(study=study.identifier)
    schemes = {scheme.pk: scheme for scheme in Scheme.objects.filter(study=study)}
    for scheme in schemes.values():
        if sha256_of_json(scheme.definition) != scheme.sha256:
            result.differ(
                _("scheme %(number)s") % {"number": scheme.number},
                _("its definition does not match its recorded hash."),
            )
    expected_arms = _verify_lists(study, result)
    records = _recorded_events(study)
    allocations = (
        Allocation.objects.filter(study=study)
        .select_related("subject", "list_entry")
        .order_by("environment", "number")
    )
    counts: dict[str, MarginalCounts] = defaultdict(MarginalCounts)
    next_sequence: dict[tuple[int, str], int] = defaultdict(lambda: 1)
    seen: set[str] = set()
    for allocation in allocations:
        result.allocations += 1
        where = _allocation_name(allocation)
        seen.add(str(allocation.pk))
        record = records.get(str(allocation.pk))
        if record is None:
            result.differ(where, _("no allocation is recorded in the audit trail."))
            continue
        factors = {name: str(level) for name, level in (record.get("factors") or {}).items()}
        if allocation.channel == "paper":
            arm = _replay_paper(allocation, record, result, where)
        else:
            arm = _replay(
                allocation=allocation,
                scheme=schemes[allocation.scheme_id],
                record=record,
                factors=factors,
                counts=counts[allocation.environment],
                expected_arms=expected_arms,
                next_sequence=next_sequence,
                result=result,
                where=where,
            )
        if arm is not None and arm != record.get("arm"):
            result.differ(where, _("the replayed arm differs from the arm recorded."))
        _compare(
            result, where, pgettext("field differing", "arm"), record.get("arm"), allocation.arm
        )
        _compare(
            result,
            where,
            pgettext("field differing", "factor levels"),
            factors,
            dict(allocation.factors),
        )
        _compare(
            result,
            where,
            pgettext("field differing", "random draw"),
            record.get("draw"),
            allocation.draw,
        )
        _compare(
            result,
            where,
            pgettext("field differing", "allocation number"),
            record.get("number"),
            allocation.number,
        )
        _compare(
            result,
            where,
            pgettext("field differing", "stratum"),
            record.get("stratum"),
            allocation.stratum,
        )
        entry = allocation.list_entry
        stored_entry = [entry.stratum, entry.sequence] if entry else None
        _compare(
            result,
            where,
            pgettext("field differing", "list entry"),
            record.get("list_entry"),
            stored_entry,
        )
        if entry is not None and entry.arm != allocation.arm:
            result.differ(where, _("the arm differs from its list entry's."))
        # Counted as recorded, so one edited row does not hide behind the ones after it.
        counts[allocation.environment].add(factors, str(record.get("arm")))
    for target_id in sorted(set(records) - seen):
        result.differ(
            _("audit event of allocation id %(id)s") % {"id": target_id},
            _("the allocation it records is missing from the database."),
        )
    return result


def _replay_paper(
    allocation: Allocation, record: dict[str, Any], result: Verification, where: str
) -> str | None:
    """Return the arm of the envelope a paper allocation used, regenerated from its backup
    list's seed; None when the envelope is missing."""
    envelope = (
        Envelope.objects.filter(allocation=allocation).select_related("backup_list__scheme").first()
    )
    if envelope is None or envelope.number != record.get("envelope"):
        result.differ(where, _("its envelope is missing or not the one recorded."))
        return None
    backup = envelope.backup_list
    definition = backup.scheme.definition
    entries = stratum_list(
        seed=int(backup.seed),
        stratum=envelope.stratum,
        arms=definition["arms"],
        ratio=definition["ratio"],
        block_sizes=backup.block_sizes,
        length=envelope.sequence,
    )
    arm = entries[envelope.sequence - 1].arm
    if envelope.arm != arm:
        result.differ(where, _("its envelope is not the one its backup list's seed generates."))
    return arm


def _replay(
    *,
    allocation: Allocation,
    scheme: Scheme,
    record: dict[str, Any],
    factors: dict[str, str],
    counts: MarginalCounts,
    expected_arms: dict[int, dict[tuple[str, int], str]],
    next_sequence: dict[tuple[int, str], int],
    result: Verification,
    where: str,
) -> str | None:
    """Return the arm the recorded inputs give, or None when they cannot be replayed."""
    definition = scheme.definition
    if scheme.method == Method.BLOCKS:
        stratum = stratum_key(factors)
        if record.get("stratum") != stratum:
            result.differ(where, _("the stratum recorded is not the one of its factor levels."))
        entry_key = record.get("list_entry")
        entry = (
            ListEntry.objects.filter(
                allocation_list__scheme=scheme, allocation_list__environment=allocation.environment
            )
            .filter(stratum=entry_key[0], sequence=entry_key[1])
            .first()
            if entry_key
            else None
        )
        if entry is None:
            result.differ(where, _("its list entry is missing."))
            return None
        key = (entry.allocation_list_id, stratum)
        if entry.stratum != stratum or entry.sequence != next_sequence[key]:
            result.differ(
                where,
                _("the list entry used is not the next one of its stratum (expected #%(n)s).")
                % {"n": next_sequence[key]},
            )
        next_sequence[key] += 1
        return expected_arms.get(entry.allocation_list_id, {}).get((entry.stratum, entry.sequence))
    draw = record.get("draw")
    if not isinstance(draw, float | int):
        result.differ(where, _("no random draw is recorded."))
        return None
    if scheme.method == Method.MINIMISATION:
        replayed = minimisation_allocate(
            arms=definition["arms"],
            ratio=definition["ratio"],
            weights={factor["name"]: factor["weight"] for factor in definition["factors"]},
            counts=counts,
            levels=factors,
            measure=definition["imbalance"],
            p=definition["p"],
            draw=float(draw),
        )
        stored_scores = allocation.scores or {}
        if set(stored_scores) != set(replayed.scores) or any(
            abs(float(stored_scores[arm]) - score) > _TOLERANCE
            for arm, score in replayed.scores.items()
        ):
            result.differ(where, _("the minimisation scores differ from the replay."))
        return replayed.arm
    return simple_allocate(arms=definition["arms"], ratio=definition["ratio"], draw=float(draw))
