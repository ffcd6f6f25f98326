"""`make run` on a fresh data directory, timed from its start to the first page served.

    .venv/bin/python bench/make_run.py [--quick] [--data-dir DIR] [--port 8765] [--keep]
        [--demo-args "--no-patients"] [--same-secrets EARLIER_DATA_DIR]

Runs the commands of the Makefile's `run` target one after the other, as read from the Makefile
(a new, empty data directory, SQLite): today the one `carnet serve --demo`, which loads the demo
(migrating the database) and then serves. Polls the server every 0.2 s until a page answers 200
(or a redirect), then stops it. Prints each step's wall time and CPU time (user + sys of the step's
processes, the server's counted from /proc up to its first answer), and on the last line the
totals and the load average. `--keep` leaves the data directory (to compare its content, see
bench/demo_digest.py).
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

CARNET = str(Path(sys.executable).with_name("carnet"))
TICKS = os.sysconf("SC_CLK_TCK")


def _children_cpu() -> float:
    usage = os.times()
    return usage.children_user + usage.children_system


def _step(command: list[str], environment: dict[str, str]) -> tuple[float, float]:
    """Run a command to its end; return its wall and CPU seconds."""
    wall, cpu = time.perf_counter(), _children_cpu()
    subprocess.run(command, env=environment, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - wall, _children_cpu() - cpu


def _tree_cpu(pid: int) -> float:
    """Return the CPU seconds (user + sys) of a process and its descendants, from /proc."""
    total = 0.0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            # utime, stime, and the children it has waited for (the demo `serve --demo` loads)
            total += sum(int(fields[n]) for n in (11, 12, 13, 14)) / TICKS
            for task in Path(f"/proc/{current}/task").iterdir():
                children = (task / "children").read_text().split()
                pending.extend(int(child) for child in children)
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


def _serve(command: list[str], environment: dict[str, str], port: int) -> tuple[float, float]:
    """Start the recipe's `carnet serve` on `port`, wait for its first answer; return wall and
    CPU seconds to it (with its children's: the demo it loads first, the worker)."""
    started = time.perf_counter()
    server = subprocess.Popen(
        [CARNET, *_without_port(command), "--port", str(port)],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        while True:
            if server.poll() is not None:
                raise SystemExit(f"carnet serve stopped ({server.returncode}) before answering")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as answer:
                    if answer.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.2)
        return time.perf_counter() - started, _tree_cpu(server.pid)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def _without_port(command: list[str]) -> list[str]:
    """Return a command without its `--port X` (the Makefile's is a make variable)."""
    kept: list[str] = []
    words = iter(command)
    for word in words:
        if word == "--port":
            next(words, None)
        elif not word.startswith("--port="):
            kept.append(word)
    return kept


def _run_recipe() -> list[list[str]]:
    """Return the `carnet` commands of the Makefile's `run` target, each without `carnet`."""
    makefile = Path(__file__).resolve().parents[1] / "Makefile"
    lines = makefile.read_text(encoding="utf-8").splitlines()
    start = next(n for n, line in enumerate(lines) if line.startswith("run:"))
    commands = []
    for line in lines[start + 1 :]:
        if not line.startswith("\t"):
            break
        words = shlex.split(line.strip())
        if words and words[0] == "$(BIN)/carnet":
            commands.append(words[1:])
    if not commands or commands[-1][0] != "serve":
        raise SystemExit(f"{makefile}: the run target does not end with `carnet serve`")
    return commands


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default="", help="a new folder (default: a temporary one)")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--keep", action="store_true", help="keep the data directory")
    parser.add_argument("--demo-args", default="", help="arguments added to `carnet demo`")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="the demo without its patients (`carnet demo --no-patients`): under a minute",
    )
    parser.add_argument(
        "--same-secrets",
        default="",
        metavar="DIR",
        help="start with the secret key and demo password of an earlier run's data directory "
        "(so that two loads can be compared row for row)",
    )
    options = parser.parse_args()
    folder = Path(options.data_dir or tempfile.mkdtemp(prefix="carnet-make-run-"))
    if folder.exists() and any(folder.iterdir()):
        raise SystemExit(f"{folder} is not empty: the measure wants a fresh data directory")
    folder.mkdir(parents=True, exist_ok=True)
    if options.same_secrets:
        for name in ("secret_key", "demo-password"):
            shutil.copy2(Path(options.same_secrets) / name, folder / name)
    environment = dict(os.environ, CARNET_DATA_DIR=str(folder))
    environment.pop("DATABASE_URL", None)
    environment.pop("DJANGO_SETTINGS_MODULE", None)
    try:
        steps = {}
        for command in _run_recipe():
            if command[0] == "serve":
                if "--demo" in command:
                    if options.demo_args:
                        raise SystemExit("--demo-args: the recipe's demo runs inside `serve`")
                    if options.quick:
                        command[command.index("--demo")] = "--demo-without-patients"
                steps["serve"] = _serve(command, environment, options.port)
                continue
            if command[0] == "demo":
                command += shlex.split(options.demo_args)
                command += ["--no-patients"] if options.quick else []
            steps[command[0]] = _step([CARNET, *command], environment)
    finally:
        if not options.keep:
            shutil.rmtree(folder, ignore_errors=True)
    for name, (wall, cpu) in steps.items():
        print(f"{name}: wall {wall:.1f} s, CPU {cpu:.1f} s")
    wall = sum(w for w, _c in steps.values())
    cpu = sum(c for _w, c in steps.values())
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    kept = f", kept in {folder}" if options.keep else ""
    print(f"make run to first page: wall {wall:.1f} s, CPU {cpu:.1f} s, load {load}{kept}")


if __name__ == "__main__":
    main()
