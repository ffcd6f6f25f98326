"""Recomputing the audit chains: `carnet audit verify` and the check that ends every restore."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from carnet.audit.coverage import AuditedData, audited_data
from carnet.audit.hashing import digest_of
from carnet.audit.models import GENESIS_HASH, AuditEvent, ChainHead
from carnet.core.errors import ValidationError

BATCH = 5000


@dataclass(frozen=True)
class Anchor:
    """A chain head written down outside the database at some moment (`carnet audit anchor`)."""

    chain: str
    seq: int
    hash: str
    taken_at: str = ""


@dataclass
class ChainReport:
    """What the verifier found in one chain."""

    chain: str
    events: int = 0
    last_seq: int = 0
    last_hash: str = GENESIS_HASH
    first_at: datetime | None = None
    problem: str | None = None

    @property
    def intact(self) -> bool:
        return self.problem is None


@dataclass
class VerificationReport:
    """The outcome for every chain verified."""

    chains: list[ChainReport] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return all(chain.intact for chain in self.chains)

    def lines(self) -> list[str]:
        """Return one sentence per chain, problems first."""
        ordered = sorted(self.chains, key=lambda report: (report.intact, report.chain))
        result = []
        for report in ordered:
            if report.intact:
                result.append(
                    f"{report.chain}: intact, {report.events} events, head #{report.last_seq} "
                    f"{report.last_hash[:16]}…"
                )
            else:
                result.append(f"{report.chain}: BROKEN. {report.problem}")
        return result


def _describe(event: AuditEvent, *, first: bool = False) -> str:
    return (
        f"{'E' if first else 'e'}vent #{event.seq} (row id {event.pk}, "
        f"{event.occurred_at:%Y-%m-%d %H:%M:%S} UTC, "
        f"{event.action} by {event.actor_label})"
    )


def _events(chain: str) -> Iterator[AuditEvent]:
    # Keyset pagination rather than one long cursor: memory stays flat on large chains and
    # SQLite is not held in one read transaction for minutes.
    after = 0
    while True:
        batch = list(AuditEvent.objects.filter(chain=chain, seq__gt=after).order_by("seq")[:BATCH])
        if not batch:
            return
        yield from batch
        after = batch[-1].seq


def verify_chain(chain: str, *, anchors: Iterable[Anchor] = ()) -> ChainReport:
    """Recompute one chain and return where, if anywhere, it stops being trustworthy."""
    report = ChainReport(chain=chain)
    anchored = {anchor.seq: anchor for anchor in anchors if anchor.chain == chain}
    expected_seq, previous_hash = 1, GENESIS_HASH
    for event in _events(chain):
        if event.seq != expected_seq:
            report.problem = (
                f"Event #{expected_seq} is missing before {_describe(event)}: "
                "events were deleted or renumbered."
            )
            return report
        if event.prev_hash != previous_hash:
            report.problem = (
                f"{_describe(event, first=True)} does not follow event #{expected_seq - 1}: "
                "its previous-hash link is wrong, so events were inserted, removed or reordered "
                "here."
            )
            return report
        recomputed = digest_of(event)
        if recomputed != event.hash:
            report.problem = (
                f"{_describe(event, first=True)} was edited after it was written: "
                "its content no longer matches its hash."
            )
            return report
        anchor = anchored.pop(event.seq, None)
        if anchor is not None and anchor.hash != event.hash:
            report.problem = (
                f"{_describe(event, first=True)} differs from the head anchored outside the "
                f"database on {anchor.taken_at or 'an earlier date'}: the chain was rewritten up "
                "to here."
            )
            return report
        report.events += 1
        if report.first_at is None:
            report.first_at = event.occurred_at
        report.last_seq, report.last_hash = event.seq, event.hash
        previous_hash = event.hash
        expected_seq += 1

    if anchored:
        lowest = min(anchored)
        report.problem = (
            f"The chain ends at event #{report.last_seq} but an anchor outside the database "
            f"records event #{lowest}: events were removed from the end."
        )
        return report
    head = ChainHead.objects.filter(chain=chain).first()
    if head is None:
        if report.events:
            report.problem = "The chain has events but no recorded head: the head row was removed."
    elif (head.seq, head.hash) != (report.last_seq, report.last_hash):
        report.problem = (
            f"The chain ends at event #{report.last_seq} ({report.last_hash[:16]}…) but its "
            f"recorded head is event #{head.seq} ({head.hash[:16]}…): events were removed from "
            "the end, or the chain was rewritten."
        )
    return report


def _time(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC"


def coverage_problem(report: ChainReport, data: list[AuditedData]) -> str | None:
    """Return why an intact chain cannot be the whole record of ``data``, or None if it can."""
    if not data:
        return None
    if report.events == 0:
        listing = ", ".join(f"{entry.what}: {entry.count}" for entry in data)
        return (
            f"The chain has no events, yet the database holds data it must record ({listing}): "
            "its events were removed (the tables emptied, or a restore without them)."
        )
    dated = [(entry.oldest, entry.what) for entry in data if entry.oldest is not None]
    if report.first_at is None or not dated:
        return None
    oldest, what = min(dated)
    if report.first_at > oldest:
        return (
            f"The chain starts on {_time(report.first_at)}, after data it must record "
            f"({what} since {_time(oldest)}): the events before were removed and the chain "
            "started again."
        )
    return None


def audit_verify(*, chain: str | None = None, anchors: Iterable[Anchor] = ()) -> VerificationReport:
    """Verify one chain, or every chain that has a head, an event or data it must record."""
    anchor_list = list(anchors)
    # An emptied trail leaves data behind: their chains are verified even with no event left.
    data = audited_data()
    if chain is not None:
        names = [chain]
    else:
        # Chains named only by an anchor are included: a chain deleted whole must be noticed.
        names = sorted(
            set(ChainHead.objects.values_list("chain", flat=True))
            | set(AuditEvent.objects.values_list("chain", flat=True).distinct())
            | {anchor.chain for anchor in anchor_list}
            | set(data)
        )
    report = VerificationReport()
    for name in names:
        if chain is not None and not (
            name in data
            or ChainHead.objects.filter(chain=name).exists()
            or AuditEvent.objects.filter(chain=name).exists()
        ):
            raise ValidationError(f"There is no audit chain named {name!r}.")
        chain_report = verify_chain(name, anchors=anchor_list)
        if chain_report.intact:
            chain_report.problem = coverage_problem(chain_report, data.get(name, []))
        report.chains.append(chain_report)
    return report


def chain_heads() -> list[Anchor]:
    """Return the current head of every chain, to be kept outside the database."""
    from carnet.core.clock import utc_now

    now = utc_now().isoformat()
    return [
        Anchor(chain=head.chain, seq=head.seq, hash=head.hash, taken_at=now)
        for head in ChainHead.objects.order_by("chain")
    ]


def anchors_read(path: Path) -> list[Anchor]:
    """Read anchors written by `carnet audit anchor` (JSON lines), naming the bad line if any."""
    anchors = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as error:
        raise ValidationError(f"Cannot read the anchor file {path}: {error.strerror}.") from error
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            anchors.append(
                Anchor(
                    chain=str(data["chain"]),
                    seq=int(data["seq"]),
                    hash=str(data["hash"]),
                    taken_at=str(data.get("taken_at", "")),
                )
            )
        except (ValueError, KeyError, TypeError) as error:
            raise ValidationError(
                f"{path}, line {number}: not an anchor (expected JSON with chain, seq and hash): "
                f"{error}."
            ) from error
    return anchors


def anchor_line(anchor: Anchor) -> str:
    """Return the JSON line that `carnet audit anchor` writes for one head."""
    return json.dumps(
        {
            "chain": anchor.chain,
            "seq": anchor.seq,
            "hash": anchor.hash,
            "taken_at": anchor.taken_at,
        },
        sort_keys=True,
    )
