"""`carnet serve` answers HTTP with pages and static files, and runs the worker beside it, as
`make run` does."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import time
import urllib.request

import pytest

from tests.conftest import Installation, carnet_executable

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def fetch(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 (local test server)
        return response.status, response.read().decode("utf-8")


def first_answer(server: subprocess.Popen[str], port: int, seconds: float) -> tuple[int, str]:
    """Return the server's first answer for its front page, waiting up to `seconds` for it."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return fetch(f"http://127.0.0.1:{port}/")
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                raise
            time.sleep(0.2)


def test_serve_answers_with_the_front_page_and_static_files(make_installation) -> None:  # type: ignore[no-untyped-def]
    site: Installation = make_installation()
    port = free_port()
    server = subprocess.Popen(
        [carnet_executable(), "serve", "--port", str(port), "--workers", "1"],
        env=site.environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        status, body = first_answer(server, port, 30)
        assert status == 200
        assert "Carnet" in body
        assert fetch(f"http://127.0.0.1:{port}/static/web/carnet.css")[0] == 200
        assert '"status": "ok"' in fetch(f"http://127.0.0.1:{port}/healthz")[1]
        # The worker runs beside the server, on the same database.
        deadline = time.monotonic() + 30
        while "Workers running: 1" not in site.run("worker", "--status").stdout:
            assert time.monotonic() < deadline, "no worker started beside the server"
            time.sleep(0.5)
    finally:
        server.send_signal(signal.SIGTERM)
        # The worker writes to the same pipe: the output ends only once it has stopped too.
        output, _ = server.communicate(timeout=90)
    assert f"Carnet is serving on http://127.0.0.1:{port}/" in output
    assert re.search(r"Worker \w+ started", output)
    assert re.search(r"Worker \w+ stopped after \d+ tasks", output)


def test_serve_refuses_a_database_that_is_not_migrated(make_installation) -> None:  # type: ignore[no-untyped-def]
    site: Installation = make_installation(migrate=False)
    result = site.run("serve", "--port", str(free_port()), check=False)
    assert result.returncode == 1
    assert "run `carnet migrate` first" in result.stderr


def test_serve_loads_the_demo_on_a_new_database_then_serves(make_installation) -> None:  # type: ignore[no-untyped-def]
    """`make run`: the demo (migrating the new database) in a process of its own while the server
    gets ready; nothing answers before the demo is loaded."""
    site: Installation = make_installation(migrate=False)
    port = free_port()
    command = ["serve", "--demo-without-patients", "--port", str(port), "--workers", "1"]
    server = subprocess.Popen(
        [carnet_executable(), *command, "--no-worker"],
        env=site.environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        status, _body = first_answer(server, port, 120)
        assert status == 200
    finally:
        server.send_signal(signal.SIGTERM)
        output, _ = server.communicate(timeout=90)
    assert output.index("Demo loaded.") < output.index("Carnet is serving on")
    assert "Study MAINTAIN-CRC: version 1" in output
    assert "investigator" in site.run("user", "list").stdout


def test_serve_serves_nothing_when_the_demo_fails(make_installation) -> None:  # type: ignore[no-untyped-def]
    site: Installation = make_installation(migrate=False)
    # No database answers there: the demo fails at its first step; the system checks need none.
    site.environment["DATABASE_URL"] = "postgres://nobody@127.0.0.1:1/nowhere"
    result = site.run("serve", "--demo", "--port", str(free_port()), check=False, timeout=60)
    assert result.returncode == 1
    # The demo says why (exit 3: no database to use), then the server that it serves nothing.
    assert "Cannot use the database" in result.stderr
    assert "`carnet demo` failed (exit 3): nothing is served." in result.stderr
    assert "Carnet is serving" not in result.stdout
