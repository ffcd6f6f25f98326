"""`carnet backup` under concurrent writes, and `carnet restore` ending with a verified trail."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from tests.conftest import Installation

pytestmark = pytest.mark.slow

WRITER = """
from django.db import transaction
from carnet.audit.services import SystemActor, audit_record, study_chain
for n in range({count}):
    with transaction.atomic():
        audit_record(actor=SystemActor(label="writer {writer}"), action="item.changed",
                     new={{"writer": {writer}, "n": n}}, chain=study_chain("BACKUP-{writer_chain}"))
print("done")
"""


def events_in(installation: Installation) -> dict[str, int]:
    """Return the head sequence number of every chain, read through the CLI."""
    out = installation.run("audit", "verify").stdout
    return {
        m[0]: int(m[1]) for m in re.findall(r"^(\S+): intact, \d+ events, head #(\d+)", out, re.M)
    }


def test_a_backup_taken_under_concurrent_writes_restores_and_verifies(make_installation) -> None:  # type: ignore[no-untyped-def]
    source: Installation = make_installation("source")
    source.run("demo", "--password", "a long demo password", "--no-patients")
    document = source.data_dir / "uploads" / "files" / "ab" / ("ab" + "0" * 62)
    document.parent.mkdir(parents=True)
    document.write_bytes(b"%PDF-1.4 an uploaded scan report")
    writers = [
        source.python(WRITER.format(count=400, writer=w, writer_chain=w % 2)) for w in range(3)
    ]
    time.sleep(1.5)  # let the writers get going
    backup_file = source.data_dir.parent / "under-load.sqlite3"
    taken = source.run("backup", "--output", str(backup_file))
    assert "Backup written" in taken.stdout
    for writer in writers:
        _out, err = writer.communicate(timeout=180)
        assert writer.returncode == 0, err
    manifest = json.loads(Path(str(backup_file) + ".json").read_text())
    heads_at_backup = {h["chain"]: h["seq"] for h in manifest["heads"]}
    assert any(chain.startswith("study:BACKUP-") for chain in heads_at_backup), (
        "the backup was taken before any writer wrote; the test proves nothing"
    )
    final = events_in(source)
    assert sum(final.values()) > sum(heads_at_backup.values()), "writes went on after the backup"

    target: Installation = make_installation("target", migrate=False)
    restored = target.run("restore", str(backup_file), "--yes")
    assert f"Restored {backup_file.name}." in restored.stdout
    assert "audit chains are intact" in restored.stdout
    after = events_in(target)
    # The copy is the moment of the backup, not later: same heads, plus the restore event.
    for chain, seq in heads_at_backup.items():
        assert after[chain] == seq + (1 if chain == "system" else 0)
    log = target.run("audit", "log", "--limit", "1").stdout
    assert "backup.restored" in log
    restored_document = target.data_dir / document.relative_to(source.data_dir)
    assert restored_document.read_bytes() == b"%PDF-1.4 an uploaded scan report"


def test_a_damaged_backup_is_refused_and_nothing_changes(make_installation) -> None:  # type: ignore[no-untyped-def]
    site: Installation = make_installation()
    site.run("demo", "--password", "a long demo password", "--no-patients")
    backup_file = site.data_dir.parent / "copy.sqlite3"
    site.run("backup", "--output", str(backup_file))
    before = events_in(site)
    with backup_file.open("r+b") as handle:
        handle.seek(200)
        handle.write(b"\x00garbage\x00")
    refused = site.run("restore", str(backup_file), "--yes", check=False)
    assert refused.returncode == 1
    assert "does not match its manifest" in refused.stderr
    assert events_in(site) == before


def test_a_restore_without_confirmation_changes_nothing(make_installation) -> None:  # type: ignore[no-untyped-def]
    site: Installation = make_installation()
    site.run("demo", "--password", "a long demo password", "--no-patients")
    backup_file = site.data_dir.parent / "copy.sqlite3"
    site.run("backup", "--output", str(backup_file))
    site.run("setting", "set", "backup_keep", "5", "--reason", "disk")
    before = events_in(site)
    cancelled = site.run("restore", str(backup_file), input="no\n", check=False)
    assert cancelled.returncode == 1
    assert "Restore cancelled; nothing was changed." in cancelled.stderr
    assert events_in(site) == before  # the setting change made after the backup is still there


def test_backups_in_the_data_directory_are_pruned_to_the_setting(make_installation) -> None:  # type: ignore[no-untyped-def]
    site: Installation = make_installation()
    site.run("setting", "set", "backup_keep", "2", "--reason", "disk")
    for _ in range(3):
        site.run("backup")
    kept = sorted((site.data_dir / "backups").glob("carnet-*"))
    assert len([p for p in kept if not p.name.endswith(".json")]) == 2
    assert len([p for p in kept if p.name.endswith(".json")]) == 2
