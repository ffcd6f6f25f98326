"""`carnet study …` as a data manager runs it: exit codes, located errors, reports, outlines."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import Installation

pytestmark = pytest.mark.slow

FIXTURE = Path(__file__).parent / "fixtures" / "mini.yaml"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "studies"


def test_validate_lists_every_error_and_writes_nothing(make_installation, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    site: Installation = make_installation()
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        FIXTURE.read_text()
        .replace('expression: "sbp > dbp"', 'expression: "sbp > dpb"')
        .replace("anchor: event:baseline", "anchor: event:cycle")
    )
    result = site.run("study", "validate", str(bad), check=False)
    assert result.returncode == 1
    assert f"{bad}:" in result.stdout
    assert "events[1].schedule.anchor: an event cannot be anchored on itself" in result.stdout
    assert "forms[0].checks[0].expression: no item is named 'dpb'" in result.stdout
    assert "2 errors and 0 warnings; nothing was written." in result.stderr
    loaded = site.run("study", "load", str(bad), check=False)
    assert loaded.returncode == 1
    assert "No study yet" in site.run("study", "list").stdout


def test_load_publish_amend_and_show(make_installation, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    site: Installation = make_installation()
    assert "Created MINI with draft version 1." in site.run("study", "load", str(FIXTURE)).stdout
    assert "Published MINI version 1" in site.run("study", "publish", "MINI").stdout
    amended = tmp_path / "mini-v2.yaml"
    amended.write_text(FIXTURE.read_text().replace("max: 250}", "max: 300}"))
    out = site.run("study", "load", str(amended)).stdout
    assert "Drafted amendment: version 2 of MINI." in out
    assert "Migration report: version 1 -> 2" in out
    assert "~ item weight (I.WEIGHT) on form vitals: range_max 250 -> 300" in out
    assert "data touched: none" in out
    listing = site.run("study", "list").stdout.splitlines()
    assert listing[0].split() == ["IDENTIFIER", "TITLE", "MODE", "VERSION"]
    assert listing[1].startswith("MINI")
    assert "design" in listing[1]
    assert "v1 (draft v2)" in listing[1]
    diff = site.run("study", "diff", "MINI:1", str(amended)).stdout
    assert "range_max: 250 -> 300" in diff
    shown = site.run("study", "show", "MINI").stdout
    assert "Version 1 (published)" in shown
    assert (
        "cycle — Cycle: day +14 from event baseline, window -2/+3 days; then every 14 days" in shown
    )
    assert "[repeating group target, at most 5 rows]" in shown
    assert "Schedule (forms × events):" in shown
    grid = shown.split("Schedule (forms × events):")[1].splitlines()
    assert grid[1].split() == ["baseline", "cycle", "adverse_events"]
    assert grid[2].split() == ["vitals", "X", "X", "."]
    assert grid[3].split() == ["lesions", "X", ".", "X"]
    french = site.run("study", "show", "MINI", "--language", "fr").stdout
    assert "MINI — Petite étude" in french
    assert site.run("audit", "verify").returncode == 0


def test_mode_moves_are_checked(make_installation) -> None:  # type: ignore[no-untyped-def]
    site: Installation = make_installation()
    site.run("study", "load", str(FIXTURE))
    secret = "a long test password\n"
    site.run("user", "create", "dora", "--full-name", "Dora", "--password-stdin", input=secret)
    site.run("role", "grant", "dora", "MINI", "all", "data_manager")
    signed = ("--reason", "go live", "--signer", "dora", "--password-stdin")
    refused = site.run("study", "mode", "MINI", "production", *signed, check=False, input=secret)
    assert refused.returncode == 1
    assert "has no published version" in refused.stderr
    site.run("study", "publish", "MINI")
    unsigned = site.run("study", "mode", "MINI", "production", "--reason", "go", check=False)
    assert "the following arguments are required: --signer" in unsigned.stderr
    assert (
        "MINI is now in production mode, signed by Dora."
        in site.run("study", "mode", "MINI", "production", *signed, input=secret).stdout
    )
    unknown = site.run("study", "publish", "NOPE", check=False)
    assert "There is no study 'NOPE' (known studies: MINI)." in unknown.stderr


def test_the_phase_three_schedule_grid_is_shown_from_its_file(make_installation) -> None:  # type: ignore[no-untyped-def]
    site: Installation = make_installation()
    shown = site.run("study", "show", str(EXAMPLES / "maintain-crc.yaml")).stdout
    grid = shown.split("Schedule (forms × events):")[1].strip().splitlines()
    assert len(grid) > 10
    assert any(line.split()[0] == "adverse_events" or "adverse" in line for line in grid)


def test_the_schema_is_published(make_installation) -> None:  # type: ignore[no-untyped-def]
    import json

    site: Installation = make_installation(migrate=False)
    schema = json.loads(site.run("study", "schema").stdout)
    assert schema["properties"]["format"]["const"] == "carnet-study/1"


def test_an_amended_demo_study_loads_with_its_migration_report(
    make_installation, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    site: Installation = make_installation()
    original = EXAMPLES / "maintain-crc.yaml"
    site.run("study", "load", str(original))
    site.run("study", "publish", "MAINTAIN-CRC")
    amended = tmp_path / "maintain-crc-v2.yaml"
    # A sponsor change voted as a substantial amendment.
    sponsor = "  sponsor: Institut du Cancer de Montpellier (ICM)\n"
    assert sponsor in original.read_text()
    amended.write_text(original.read_text().replace(sponsor, "  sponsor: Unicancer\n"))
    out = site.run("study", "load", str(amended)).stdout
    assert "Drafted amendment: version 2 of MAINTAIN-CRC." in out
    assert "Migration report: version 1 -> 2" in out
    assert (
        "~ study MAINTAIN-CRC (S.MAINTAIN-CRC): "
        "sponsor 'Institut du Cancer de Montpellier (ICM)' -> 'Unicancer'" in out
    )
