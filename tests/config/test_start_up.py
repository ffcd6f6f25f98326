"""What a process pays to start: the server, `carnet demo` and each test worker load the URLs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import _installation_environment

# SciPy (about a second) and matplotlib (half a second) are imported by the statistics and the
# figures that use them: a process that computes nothing does not wait for them.
HEAVY = ("scipy", "matplotlib")


def test_loading_the_urls_imports_neither_scipy_nor_matplotlib(tmp_path: Path) -> None:
    code = (
        "import sys, django; django.setup(); from django.urls import get_resolver; "
        "get_resolver().url_patterns; "
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    )
    ran = subprocess.run(
        [sys.executable, "-c", code],
        env=_installation_environment(tmp_path),
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert ran.stdout.strip() == "[]"
