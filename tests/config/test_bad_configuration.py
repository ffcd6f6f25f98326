"""Bad configuration ends with one clear sentence and a non-zero exit, never a traceback."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import pytest

from tests.conftest import carnet_executable

pytestmark = pytest.mark.slow


def carnet(*arguments: str, **environment: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("CARNET_", "DJANGO_"))}
    base.pop("DATABASE_URL", None)
    return subprocess.run(
        [carnet_executable(), *arguments],
        env={**base, **environment},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def assert_one_sentence(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def test_a_malformed_database_url_is_named(tmp_path: Path) -> None:
    result = carnet("migrate", CARNET_DATA_DIR=str(tmp_path), DATABASE_URL="mysq://nowhere")
    assert_one_sentence(result, "DATABASE_URL 'mysq://nowhere' is not understood")
    assert result.returncode == 2


def test_a_database_url_with_a_bad_port_is_refused_without_its_password(tmp_path: Path) -> None:
    result = carnet(
        "migrate",
        CARNET_DATA_DIR=str(tmp_path),
        DATABASE_URL="postgres://carnet:s3cret@localhost:notaport/carnet",
    )
    assert_one_sentence(result, "DATABASE_URL", "malformed")
    assert "s3cret" not in result.stderr


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_an_unreachable_database_is_one_sentence(tmp_path: Path) -> None:
    url = f"postgres://carnet:s3cret@127.0.0.1:{free_port()}/carnet"
    result = carnet("migrate", CARNET_DATA_DIR=str(tmp_path), DATABASE_URL=url)
    assert_one_sentence(result, "Cannot use the database postgres://carnet:***@127.0.0.1:")
    assert "s3cret" not in result.stderr
    assert result.returncode == 3


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_an_unwritable_data_directory_is_named(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    result = carnet("migrate", CARNET_DATA_DIR=str(locked))
    assert_one_sentence(result, f"The data directory {locked} is not writable")


def test_a_data_directory_that_is_a_file_is_named(tmp_path: Path) -> None:
    # Works as root too: nobody can create a directory inside a regular file.
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = carnet("migrate", CARNET_DATA_DIR=str(blocker / "data"))
    assert_one_sentence(result, f"The data directory {blocker / 'data'} cannot be created")


def test_an_unknown_profile_is_named(tmp_path: Path) -> None:
    result = carnet("migrate", CARNET_DATA_DIR=str(tmp_path), CARNET_PROFILE="staging")
    assert_one_sentence(result, "CARNET_PROFILE='staging' is not a profile")


def test_a_yes_no_variable_with_another_value_is_named(tmp_path: Path) -> None:
    result = carnet("migrate", CARNET_DATA_DIR=str(tmp_path), CARNET_DEBUG="perhaps")
    assert_one_sentence(result, "CARNET_DEBUG='perhaps' must be one of")
