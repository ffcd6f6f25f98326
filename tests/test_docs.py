"""Generated references and the README stay true to the code."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPOSITORY


def test_the_cli_reference_matches_the_commands() -> None:
    result = subprocess.run(
        [sys.executable, str(REPOSITORY / "scripts" / "cli_reference.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_openapi_reference_matches_the_api() -> None:
    result = subprocess.run(
        [sys.executable, str(REPOSITORY / "scripts" / "openapi_reference.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_readme_gives_exactly_the_two_commands_and_they_exist_in_the_makefile() -> None:
    readme = (REPOSITORY / "README.md").read_text()
    block = re.search(r"```sh\n(.*?)```", readme, re.S)
    assert block is not None
    commands = [line.split("#")[0].strip() for line in block.group(1).splitlines() if line.strip()]
    assert commands == ["make run", "make test"]
    makefile = (REPOSITORY / "Makefile").read_text()
    assert re.search(r"^run: install$", makefile, re.M)
    assert re.search(r"^test: install$", makefile, re.M)


def test_every_document_the_readme_links_exists() -> None:
    readme = (REPOSITORY / "README.md").read_text()
    for target in re.findall(r"\]\((docs/[^)]+)\)", readme):
        assert (REPOSITORY / target).is_file(), f"README links {target}, which does not exist"


def test_no_file_names_a_path_of_the_developers_machine() -> None:
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=REPOSITORY, capture_output=True, text=True, check=True
    ).stdout.split()
    for name in tracked:
        path = REPOSITORY / name
        if path.suffix in {".mo", ".png"} or not path.is_file():
            continue
        text = path.read_text(encoding="utf-8", errors="ignore")
        for machine_path in ("/work/" + "main", "/" + "root/"):
            assert machine_path not in text, f"{name} names {machine_path}"


GUIDE = REPOSITORY / "docs" / "guide"


def _guide_pages() -> list[Path]:
    return sorted(GUIDE.glob("*.md"))


def _anchors(page: Path) -> set[str]:
    """Return the anchors of a Markdown page's headings, as GitHub makes them."""
    headings = re.findall(r"^#+ (.+)$", page.read_text(), re.M)
    return {re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-") for heading in headings}


def test_every_picture_of_the_user_guide_exists_and_every_screenshot_is_shown() -> None:
    shown = set()
    for page in _guide_pages():
        for target in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", page.read_text()):
            assert (GUIDE / target).is_file(), f"{page.name} shows {target}, which does not exist"
            shown.add((GUIDE / target).resolve())
    screenshots = {path.resolve() for path in (GUIDE / "img").glob("*.png")}
    assert screenshots, "docs/guide/img holds no screenshot"
    unused = sorted(path.name for path in screenshots - shown)
    assert not unused, f"no page of the user guide shows {unused}"


def test_every_link_of_the_user_guide_leads_to_a_page_and_heading_that_exist() -> None:
    for page in _guide_pages():
        for target, anchor in re.findall(
            r"(?<!!)\[[^\]]*\]\(([^)#]+)#?([^)]*)\)", page.read_text()
        ):
            if "://" in target:
                continue
            linked = (page.parent / target).resolve()
            assert linked.exists(), f"{page.name} links {target}, which does not exist"
            if anchor:
                assert anchor in _anchors(linked), (
                    f"{page.name} links {target}#{anchor}: no heading"
                )
