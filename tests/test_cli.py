"""The `carnet` command as a newcomer meets it: the first command works on an empty data
directory, a database nobody migrated is named as such, and a reader that stops early (`| head`)
ends the command quietly."""

from __future__ import annotations

import shlex
import subprocess

import pytest

from tests.conftest import Installation, carnet_executable

pytestmark = pytest.mark.slow

PASSWORD = "a long demo password"


def test_the_demo_on_an_empty_data_directory_migrates_first(make_installation) -> None:  # type: ignore[no-untyped-def]
    site: Installation = make_installation(migrate=False)
    result = site.run("demo", "--no-patients", "--password", PASSWORD)
    assert result.stdout.startswith("Migrating the database (")
    assert "Demo loaded." in result.stdout
    assert result.stderr == ""
    again = site.run("demo", "--no-patients")
    assert "Migrating" not in again.stdout


def test_a_database_nobody_migrated_is_named_as_such(make_installation) -> None:  # type: ignore[no-untyped-def]
    site: Installation = make_installation(migrate=False)
    result = site.run("user", "list", check=False)
    assert result.returncode == 4
    assert "Traceback" not in result.stderr
    [line] = result.stderr.splitlines()
    assert "is not migrated (" in line
    assert line.endswith("run `carnet migrate` first.")


def test_a_reader_that_stops_early_ends_the_command_quietly(make_installation) -> None:  # type: ignore[no-untyped-def]
    site: Installation = make_installation(migrate=False)
    site.run("demo", "--no-patients", "--password", PASSWORD)
    # `head -n 0` leaves before the command writes anything: every write meets a closed pipe.
    command = f"{shlex.quote(carnet_executable())} study show MAINTAIN-CRC | head -n 0"
    result = subprocess.run(
        ["bash", "-c", f"set -o pipefail; {command}"],
        env=site.environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.stderr == ""
    assert result.returncode == 141  # as a shell reports a command ended by SIGPIPE


def test_the_local_profile_shows_carnets_own_error_pages_unless_debug_is_asked(
    make_installation,  # type: ignore[no-untyped-def]
) -> None:
    site: Installation = make_installation(migrate=False)
    code = (
        "from django.conf import settings; from django.test import Client\n"
        "answer = Client().get('/no-such-page/', HTTP_HOST='127.0.0.1')\n"
        "print(settings.DEBUG, answer.status_code, b'Using the URLconf' in answer.content, "
        "b'Back to the home page' in answer.content)\n"
    )
    plain = site.python(code)
    assert plain.communicate(timeout=120)[0].split() == ["False", "404", "False", "True"]
    site.environment["CARNET_DEBUG"] = "1"
    debug = site.python(code)
    assert debug.communicate(timeout=120)[0].split()[:3] == ["True", "404", "True"]
