"""`carnet audit verify` says the chains are intact, and exactly where after an SQL edit."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.conftest import Installation, database_vendor

FIXTURE = Path(__file__).resolve().parents[1] / "studies" / "fixtures" / "mini.yaml"

pytestmark = pytest.mark.slow


def edit_in_sql(installation: Installation, statement: str) -> None:
    if database_vendor() == "sqlite":
        with sqlite3.connect(installation.data_dir / "carnet.sqlite3") as connection:
            connection.execute(statement)
        return
    import psycopg

    with psycopg.connect(installation.environment["DATABASE_URL"], autocommit=True) as connection:
        connection.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER audit_event_append_only")
        connection.execute(statement)  # type: ignore[arg-type]


def test_verify_reports_intact_chains_then_the_edited_event(make_installation) -> None:  # type: ignore[no-untyped-def]
    site: Installation = make_installation()
    site.run("user", "create", "marie", "--no-password")
    site.run("setting", "set", "organisation_name", "ICM Montpellier", "--reason", "set-up")
    site.run("setting", "set", "session_idle_minutes", "20", "--reason", "hospital policy")

    intact = site.run("audit", "verify")
    assert "system: intact, 3 events" in intact.stdout
    assert "All 1 audit chains are intact." in intact.stdout

    edit_in_sql(site, "UPDATE audit_auditevent SET reason = 'no reason' WHERE seq = 2")
    broken = site.run("audit", "verify", check=False)
    assert broken.returncode == 1
    assert "system: BROKEN. Event #2 (row id" in broken.stdout
    assert "setting.changed by carnet setting set" in broken.stdout
    assert "was edited after it was written" in broken.stdout
    assert "1 of 1 audit chains are broken." in broken.stderr


def test_anchors_exported_to_a_file_are_checked(make_installation) -> None:  # type: ignore[no-untyped-def]
    site: Installation = make_installation()
    site.run("user", "create", "marie", "--no-password")
    anchors = site.data_dir.parent / "anchors.jsonl"
    assert "1 chain heads appended" in site.run("audit", "anchor", "--output", str(anchors)).stdout
    site.run("setting", "set", "backup_keep", "3", "--reason", "disk space")
    assert site.run("audit", "verify", "--anchors", str(anchors)).returncode == 0

    anchors.write_text('{"chain": "system", "seq": 1}\n')
    bad = site.run("audit", "verify", "--anchors", str(anchors), check=False)
    assert bad.returncode == 1
    assert "anchors.jsonl, line 1: not an anchor" in bad.stderr


def test_verifying_an_unknown_study_chain_is_refused(make_installation) -> None:  # type: ignore[no-untyped-def]
    site: Installation = make_installation()
    result = site.run("audit", "verify", "--study", "NOPE", check=False)
    assert result.returncode == 1
    assert "There is no audit chain named 'study:NOPE'." in result.stderr


def test_an_emptied_trail_fails_verification_while_data_remain(make_installation) -> None:  # type: ignore[no-untyped-def]
    site: Installation = make_installation()
    site.run("user", "create", "marie", "--no-password")
    site.run("study", "load", str(FIXTURE))
    if database_vendor() == "sqlite":
        with sqlite3.connect(site.data_dir / "carnet.sqlite3") as connection:
            connection.execute("DELETE FROM audit_auditevent")
            connection.execute("DELETE FROM audit_chainhead")
    else:
        import psycopg

        url = site.environment["DATABASE_URL"]
        with psycopg.connect(url, autocommit=True) as connection:
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="cannot be emptied"):
                connection.execute("TRUNCATE audit_auditevent, audit_chainhead")
            # Only the tables' owner can do it, by setting the triggers aside first.
            for table in ("audit_auditevent", "audit_chainhead"):
                connection.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")  # type: ignore[arg-type]
            connection.execute("TRUNCATE audit_auditevent, audit_chainhead")

    result = site.run("audit", "verify", check=False)
    assert result.returncode == 1
    assert "No audit events yet." not in result.stdout
    emptied = "The chain has no events, yet the database holds data it must record"
    assert f"study:MINI: BROKEN. {emptied} (study versions: 1)" in result.stdout
    assert f"system: BROKEN. {emptied} (accounts: 1)" in result.stdout
    assert "2 of 2 audit chains are broken." in result.stderr
