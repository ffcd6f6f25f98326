"""Backups and restores: SQLite's online backup API, or pg_dump / pg_restore for PostgreSQL.

A backup is one file plus a manifest (`<file>.json`) holding its SHA-256 and the audit chain
heads it contains; a restore checks the file against its manifest, replaces the database and ends
by verifying every chain against those heads.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection, connections, transaction

from carnet.accounts.models import User
from carnet.audit.services import SystemActor, audit_record
from carnet.audit.verification import Anchor, VerificationReport, audit_verify, chain_heads
from carnet.core.clock import utc_now
from carnet.core.errors import CarnetError, ValidationError
from carnet.core.hashing import sha256_of_file


@dataclass(frozen=True)
class Backup:
    """A backup file and what its manifest says about it."""

    path: Path
    sha256: str
    size: int
    vendor: str
    heads: list[Anchor]

    @property
    def manifest_path(self) -> Path:
        return manifest_path(self.path)


def manifest_path(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def _database() -> dict[str, Any]:
    return dict(settings.DATABASES["default"])


def _vendor() -> str:
    return "sqlite" if _database()["ENGINE"].endswith("sqlite3") else "postgresql"


def _postgres_command(program: str) -> tuple[list[str], dict[str, str]]:
    database = _database()
    if shutil.which(program) is None:
        raise CarnetError(
            f"{program} is not installed; install the PostgreSQL client of the server's version "
            f"(Debian: apt-get install postgresql-client)."
        )
    arguments = [program, "--dbname", database["NAME"]]
    for option, key in (("--host", "HOST"), ("--port", "PORT"), ("--username", "USER")):
        if database.get(key):
            arguments += [option, str(database[key])]
    environment = dict(os.environ)
    if database.get("PASSWORD"):
        environment["PGPASSWORD"] = str(database["PASSWORD"])
    return arguments, environment


def _sqlite_heads(path: Path) -> list[Anchor]:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as connection:
        rows = connection.execute("SELECT chain, seq, hash FROM audit_chainhead ORDER BY chain")
        return [Anchor(chain=c, seq=s, hash=h) for c, s, h in rows]


def _default_destination(vendor: str) -> Path:
    stamp = utc_now().strftime("%Y%m%dT%H%M%S%fZ")
    suffix = "sqlite3" if vendor == "sqlite" else "pgdump"
    return Path(settings.BACKUP_DIR) / f"carnet-{stamp}.{suffix}"


def _postgres_dump(destination: Path) -> list[Anchor]:
    """Dump the database with pg_dump and return the chain heads of exactly that snapshot."""
    arguments, environment = _postgres_command("pg_dump")
    # pg_dump reads a snapshot exported by this transaction, so the heads written into the
    # manifest are those of the dump itself, however many writers are busy meanwhile.
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        cursor.execute("SELECT pg_export_snapshot()")
        (snapshot,) = cursor.fetchone() or ("",)
        heads = chain_heads()
        result = subprocess.run(
            [*arguments, "--format=custom", f"--snapshot={snapshot}", "--file", str(destination)],
            env=environment,
            capture_output=True,
            text=True,
            check=False,
        )
    if result.returncode != 0:
        raise CarnetError(f"pg_dump failed: {result.stderr.strip()}")
    return heads


def backup_create(*, actor: User | SystemActor, destination: Path | None = None) -> Backup:
    """Write a consistent copy of the database while Carnet keeps running, and its manifest."""
    vendor = _vendor()
    path = (destination or _default_destination(vendor)).resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        raise ValidationError(f"{path} already exists; choose another file name.")
    partial = path.with_name(path.name + ".partial")
    try:
        if vendor == "sqlite":
            # One step (pages=-1) copies a single snapshot; WAL lets writers go on meanwhile.
            source = sqlite3.connect(_database()["NAME"], timeout=30)
            target = sqlite3.connect(partial)
            try:
                source.backup(target)
                # A backup is one self-contained file: no -wal or -shm beside it.
                target.execute("PRAGMA journal_mode=DELETE")
            finally:
                target.close()
                source.close()
            heads = _sqlite_heads(partial)
        else:
            heads = _postgres_dump(partial)
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)

    backup = Backup(
        path=path, sha256=sha256_of_file(path), size=path.stat().st_size, vendor=vendor, heads=heads
    )
    uploads = _uploads_archive(path)
    backup.manifest_path.write_text(
        json.dumps(
            {
                "file": path.name,
                "sha256": backup.sha256,
                "size": backup.size,
                "vendor": vendor,
                "created_at": utc_now().isoformat(),
                "carnet_version": _carnet_version(),
                "heads": [{"chain": a.chain, "seq": a.seq, "hash": a.hash} for a in heads],
                "uploads": uploads,
            },
            indent=2,
        ),
        encoding="utf-8",
    )
    audit_record(
        actor=actor,
        action="backup.created",
        target=("operations.backup", path.name),
        new={"file": path.name, "sha256": backup.sha256, "size": backup.size},
    )
    return backup


def uploads_archive_path(path: Path) -> Path:
    return path.with_name(path.name + ".uploads.tar")


def _uploads_archive(path: Path) -> dict[str, object] | None:
    """Archive the uploaded documents beside the database copy; return what the manifest says.

    Taken after the database copy: uploads are content-addressed and never change, so the
    archive holds at least every document the copied database refers to.
    """
    uploads = Path(settings.MEDIA_ROOT)
    if not uploads.is_dir() or not any(uploads.rglob("*")):
        return None
    archive = uploads_archive_path(path)
    partial = archive.with_name(archive.name + ".partial")
    with tarfile.open(partial, "w") as tar:
        tar.add(uploads, arcname="uploads")
    partial.replace(archive)
    return {"file": archive.name, "sha256": sha256_of_file(archive)}


def _uploads_checked(backup: Backup) -> Path | None:
    """Return the backup's documents archive once it matches its manifest (None: no documents)."""
    manifest = json.loads(backup.manifest_path.read_text(encoding="utf-8"))
    uploads = manifest.get("uploads")
    if not uploads:
        return None
    archive = backup.path.with_name(uploads["file"])
    if not archive.is_file() or sha256_of_file(archive) != uploads["sha256"]:
        raise ValidationError(
            f"The documents archive {archive.name} is missing or does not match the manifest; "
            "nothing was restored."
        )
    return archive


def _uploads_restore(archive: Path | None) -> None:
    if archive is None:
        return
    target = Path(settings.MEDIA_ROOT).parent
    with tarfile.open(archive) as tar:
        # Only regular files and folders under uploads/: an archive cannot write elsewhere.
        members = [
            m
            for m in tar.getmembers()
            if (m.isfile() or m.isdir())
            and m.name.split("/")[0] == "uploads"
            and ".." not in m.name
        ]
        if hasattr(tarfile, "data_filter"):  # Python 3.11.4 and later
            tar.extractall(target, members=members, filter="data")
        else:
            tar.extractall(target, members=members)  # noqa: S202 (members checked above)


def _carnet_version() -> str:
    from carnet import __version__

    return __version__


def backup_read(path: Path) -> Backup:
    """Return a backup checked against its manifest, or raise saying what does not match."""
    path = path.resolve()
    if not path.is_file():
        raise ValidationError(f"There is no backup file at {path}.")
    manifest_file = manifest_path(path)
    if not manifest_file.is_file():
        raise ValidationError(
            f"The manifest {manifest_file.name} is missing beside {path.name}; without it the file "
            "cannot be checked."
        )
    try:
        manifest = json.loads(manifest_file.read_text(encoding="utf-8"))
        heads = [
            Anchor(chain=h["chain"], seq=int(h["seq"]), hash=h["hash"]) for h in manifest["heads"]
        ]
        expected, vendor = manifest["sha256"], manifest["vendor"]
    except (ValueError, KeyError, TypeError) as error:
        raise ValidationError(f"The manifest {manifest_file} is not readable: {error}.") from error
    actual = sha256_of_file(path)
    if actual != expected:
        raise ValidationError(
            f"{path.name} does not match its manifest (SHA-256 {actual[:16]}… instead of "
            f"{expected[:16]}…): the file is damaged or was changed."
        )
    return Backup(path=path, sha256=actual, size=path.stat().st_size, vendor=vendor, heads=heads)


def backup_restore(*, actor: User | SystemActor, source: Path) -> VerificationReport:
    """Replace the database with a backup, then verify the restored audit chains.

    The restore is recorded in the system chain only when the restored chains are intact.
    """
    backup = backup_read(source)
    vendor = _vendor()
    if backup.vendor != vendor:
        raise ValidationError(
            f"{backup.path.name} is a {backup.vendor} backup; this Carnet uses {vendor}."
        )
    archive = _uploads_checked(backup)  # before anything is replaced
    connections.close_all()
    if vendor == "sqlite":
        source_connection = sqlite3.connect(f"file:{backup.path}?mode=ro", uri=True)
        target = sqlite3.connect(_database()["NAME"], timeout=30)
        try:
            source_connection.backup(target)
        finally:
            target.close()
            source_connection.close()
    else:
        arguments, environment = _postgres_command("pg_restore")
        result = subprocess.run(
            [
                *arguments,
                "--clean",
                "--if-exists",
                "--no-owner",
                "--single-transaction",
                str(backup.path),
            ],
            env=environment,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise CarnetError(f"pg_restore failed: {result.stderr.strip()}")
    _uploads_restore(archive)
    report = audit_verify(anchors=backup.heads)
    if report.intact:
        audit_record(
            actor=actor,
            action="backup.restored",
            target=("operations.backup", backup.path.name),
            new={"file": backup.path.name, "sha256": backup.sha256},
        )
    return report


def backups_prune(*, keep: int) -> list[Path]:
    """Delete the oldest backups of the data directory beyond ``keep``; return what was removed."""
    directory = Path(settings.BACKUP_DIR)
    found = sorted(
        [p for p in directory.glob("carnet-*") if p.suffix in {".sqlite3", ".pgdump"}],
        key=lambda p: p.name,
    )
    removed = found[: max(len(found) - keep, 0)]
    for path in removed:
        path.unlink()
        manifest_path(path).unlink(missing_ok=True)
        uploads_archive_path(path).unlink(missing_ok=True)
    return removed
