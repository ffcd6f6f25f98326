"""Provisioning from the command line, as an administrator sets up a study's sites and people."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Installation, installation_new, installations_drop

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("provisioning")]

FIXTURE = Path(__file__).resolve().parents[1] / "studies" / "fixtures" / "mini.yaml"


@pytest.fixture(scope="module")
def provisioned(
    tmp_path_factory: pytest.TempPathFactory, migrated_database: str
) -> Iterator[Installation]:
    """One installation for all the refusals: each is checked to write nothing."""
    databases: list[str] = []
    site = installation_new(
        tmp_path_factory.mktemp("provisioning") / "site",
        template=migrated_database,
        databases=databases,
    )
    site.run("study", "load", str(FIXTURE))
    site.run("centre", "add", "ICM", "--name", "ICM")
    site.run("site", "add", "MINI", "ICM")
    site.run("user", "create", "jdupont", "--no-password")
    yield site
    installations_drop(databases)


def test_an_administrator_sets_up_a_site_and_a_person(make_installation) -> None:  # type: ignore[no-untyped-def]
    site: Installation = make_installation()
    site.run("study", "load", str(FIXTURE))
    site.run("study", "publish", "MINI")
    assert (
        "Centre ICM added"
        in site.run(
            "centre",
            "add",
            "ICM",
            "--name",
            "Institut du Cancer de Montpellier",
            "--city",
            "Montpellier",
        ).stdout
    )
    assert (
        "ICM is site 01 of MINI (not yet activated)."
        in site.run("site", "add", "MINI", "ICM").stdout
    )
    assert (
        "active from 2025-01-15"
        in site.run("site", "activate", "MINI", "01", "--date", "2025-01-15").stdout
    )
    created = site.run(
        "user",
        "create",
        "jdupont",
        "--full-name",
        "Jeanne Dupont",
        "--password-stdin",
        input="a long enough password\n",
    )
    assert "Account jdupont created." in created.stdout
    granted = site.run(
        "role", "grant", "jdupont", "MINI", "01", "data_entry", "--from", "2025-02-01"
    )
    assert "jdupont is data_entry on MINI (site 01) from 2025-02-01." in granted.stdout
    token = site.run("token", "create", "jdupont", "MINI", "--label", "scripts")
    key = token.stdout.strip()
    assert len(key) == 32
    assert "not shown again" in token.stderr
    listing = site.run("token", "list").stdout
    assert key[:6] in listing
    assert key not in listing
    assert "Token" in site.run("token", "revoke", key[:6], "--reason", "test").stdout
    log = site.run("role", "list", "MINI").stdout
    assert "jdupont  data_entry  site 01  2025-02-01 -> …" in log
    deactivated = site.run("user", "deactivate", "jdupont", "--reason", "left the unit")
    assert "Account jdupont deactivated." in deactivated.stdout
    assert site.run("audit", "verify").returncode == 0


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (("role", "grant", "nobody", "MINI", "01", "monitor"), "There is no account 'nobody'."),
        (("role", "grant", "jdupont", "NOPE", "01", "monitor"), "There is no study 'NOPE'"),
        (("role", "grant", "jdupont", "MINI", "07", "monitor"), "MINI has no site '07'."),
        (("role", "grant", "jdupont", "MINI", "all", "investigator"), "is a site role"),
        (
            (
                "role",
                "grant",
                "jdupont",
                "MINI",
                "01",
                "monitor",
                "--from",
                "2025-05-01",
                "--to",
                "2025-04-01",
            ),
            "would end (2025-04-01) before it starts (2025-05-01)",
        ),
        (("site", "activate", "MINI", "01", "--date", "15/01/2025"), "is not a date like"),
        (
            ("centre", "add", "X", "--name", "X", "--time-zone", "Mars/Olympus"),
            "is not a time zone",
        ),
    ],
)
def test_bad_provisioning_is_refused_with_a_sentence(
    provisioned: Installation, arguments, message
) -> None:  # type: ignore[no-untyped-def]
    before = provisioned.run("audit", "verify").stdout
    result = provisioned.run(*arguments, check=False)
    assert result.returncode in (1, 2)
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert provisioned.run("audit", "verify").stdout == before  # a refusal writes nothing
