"""Fuzzing the API: schemathesis, the real client from PyPI, against a live server.

Schemathesis reads the published OpenAPI document and sends requests built from it (valid ones,
and invalid ones that the schema forbids) with the tokens of three personas: a site data-entry
person who may write, a monitor who reads two sites and a blinded statistician. Path parameters
name the real study, subject and form, so requests reach the save pipeline and not only the 404
of an unknown study. The run is bounded in time. It must find no server error and no answer that
breaks its own schema; docs/security.md records the figures of a run.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from carnet.accounts.roles import Role
from carnet.accounts.services import token_create
from carnet.studies.services import study_mode_change
from tests.accounts.personas import ADMIN, person, world
from tests.capture.conftest import include

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

SECONDS_PER_PERSONA = 25
CHECKS = "not_a_server_error,response_schema_conformance"


def _schemathesis() -> str:
    executable = Path(sys.executable).with_name("schemathesis")
    if not executable.exists():
        pytest.fail("schemathesis is not installed: make install installs the dev dependencies")
    return str(executable)


def _run(url: str, key: str, parameters: dict[str, Any], folder: Path) -> dict[str, Any]:
    config = folder / "schemathesis.toml"
    lines = [f'"{name}" = {json.dumps(value)}' for name, value in parameters.items()]
    config.write_text("\n".join(["[parameters]", *lines]) + "\n")
    command = [
        _schemathesis(),
        "--config-file",
        str(config),
        "run",
        f"{url}/api/openapi.json",
        "--header",
        f"Authorization: Bearer {key}",
        "--checks",
        CHECKS,
        # Examples, boundary cases and random fuzzing; the stateful phase guesses links between
        # operations that this API does not declare.
        "--phases",
        "examples,coverage,fuzzing",
        "--max-time",
        str(SECONDS_PER_PERSONA),
        "--seed",
        "20261202",
        "--workers",
        "1",
        "--output-sanitize",
        "false",
    ]
    finished = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=SECONDS_PER_PERSONA * 6,
        check=False,
        cwd=folder,  # schemathesis keeps a cache folder where it runs
    )
    return {"returncode": finished.returncode, "output": finished.stdout + finished.stderr}


def _cases(output: str) -> int:
    """Return how many test cases (requests) the run says it generated."""
    found = re.search(r"(\d+) generated", output)
    return int(found.group(1)) if found else 0


def test_fuzzing_the_api_finds_no_server_error_and_no_answer_outside_its_schema(
    live_server: Any, tmp_path: Path
) -> None:
    w = world()
    study_mode_change(actor=ADMIN, study=w.study, mode="production")
    w.study.refresh_from_db()
    entry = person("julie", study=w.study, role=Role.DATA_ENTRY, sites=[w.site_a])
    monitor = person("sophie", study=w.study, role=Role.MONITOR, sites=[w.site_a, w.site_b])
    statistician = person("paul", study=w.study, role=Role.STATISTICIAN)
    subject = include(w, entry)
    parameters = {
        "identifier": w.study.identifier,
        "subject": subject.identifier,
        "event": "baseline",
        "occurrence": 1,
        "form": "vitals",
    }
    figures = []
    for user in (entry, monitor, statistician):
        _, key = token_create(actor=ADMIN, user=user, study=w.study, label="fuzzing")
        folder = tmp_path / user.username
        folder.mkdir()
        run = _run(live_server.url, key, parameters, folder)
        cases = _cases(run["output"])
        figures.append((user.username, cases))
        # A run that sent next to nothing would pass without proving anything.
        assert cases >= 50, f"{user.username}:\n{run['output'][-6000:]}"
        assert run["returncode"] == 0, f"{user.username}:\n{run['output'][-6000:]}"
    print("fuzzing figures (persona, test cases):", figures)
