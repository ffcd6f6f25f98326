"""An administrator loads a MedDRA version in Chromium from the page: a zip with a malformed
line is refused with its file and line and loads nothing; the corrected zip loads. The
screenshot of docs/guide/coder.md is written here. The dictionary is tests/coding/dictionary.py's,
invented for the tests (no MedDRA content)."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from carnet.coding.models import DictionaryVersion
from tests.accounts.factories import UserFactory
from tests.accounts.personas import with_second_factor
from tests.coding.dictionary import write_meddra
from tests.e2e.test_queries import sign_in_with_code

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
IMAGES = Path(__file__).resolve().parents[2] / "docs" / "guide" / "img"
VIEWPORT = {"width": 1366, "height": 900}


def _zip(folder: Path, target: Path) -> Path:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(folder.iterdir()):
            archive.writestr("MedAscii/" + path.name, path.read_bytes())
    target.write_bytes(buffer.getvalue())
    return target


def test_an_administrator_loads_a_meddra_zip_from_the_page(
    live_server: Any, page: Any, tmp_path: Path
) -> None:
    with_second_factor(UserFactory.create(username="ada", is_administrator=True))
    broken = write_meddra(tmp_path / "broken")
    llt = broken / "llt.asc"
    lines = llt.read_text(encoding="utf-8").splitlines()
    llt.write_text("\n".join([*lines[:2], "95000009$Orphan$99999999$$$$$$$Y$$", *lines[2:]]) + "\n")
    good = _zip(write_meddra(tmp_path / "good"), tmp_path / "MedAscii-27.0.zip")

    page.set_viewport_size(VIEWPORT)
    sign_in_with_code(page, "ada")
    page.goto("/administration/")
    page.locator("#dictionaries-link").click()
    expect(page.locator("h1")).to_have_text("Medical dictionaries")
    page.get_by_label("Dictionary").select_option("meddra")
    page.get_by_label("Version").fill("27.0")
    page.get_by_label("Files").set_input_files(str(_zip(broken, tmp_path / "broken.zip")))
    page.get_by_role("button", name="Load").click()
    expect(page.locator("#dictionary-problem")).to_contain_text("llt.asc, line 3")
    assert not DictionaryVersion.objects.exists()

    page.get_by_label("Files").set_input_files(str(good))
    page.screenshot(path=str(IMAGES / "dictionary-load.png"), full_page=True)
    page.get_by_role("button", name="Load").click()
    expect(page.locator("#dictionary-loaded")).to_contain_text("MedDRA 27.0")
    expect(page.locator("#dictionary-versions")).to_contain_text("27.0")
    assert DictionaryVersion.objects.get().terms == 6
