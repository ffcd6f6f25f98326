"""`carnet crf` and `carnet casebook`: files written, refusals that say why."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from carnet.audit.models import AuditEvent
from tests.interop.conftest import Exporting

pytestmark = pytest.mark.django_db


def test_carnet_crf_writes_the_annotated_crf_as_pdf_and_html(
    exporting: Exporting, tmp_path: Path
) -> None:
    out = io.StringIO()
    call_command("crf", "MINI", "--annotated", "--output", str(tmp_path / "crf.pdf"), stdout=out)
    assert (tmp_path / "crf.pdf").read_bytes().startswith(b"%PDF")
    assert "annotated CRF of MINI" in out.getvalue()
    call_command("crf", "MINI", "--output", str(tmp_path / "crf.html"), stdout=io.StringIO())
    assert "Blank CRF of MINI" in (tmp_path / "crf.html").read_text(encoding="utf-8")
    with pytest.raises(CommandError, match="no published version 9"):
        call_command("crf", "MINI", "--study-version", "9", "--output", str(tmp_path / "x.pdf"))


def test_carnet_casebook_writes_one_subject_and_a_site(
    exporting: Exporting, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    one = tmp_path / "one.pdf"
    call_command(
        "casebook",
        "MINI",
        "--subject",
        exporting.subject.identifier,
        "--output",
        str(one),
        stdout=io.StringIO(),
    )
    assert one.read_bytes().startswith(b"%PDF")
    site = tmp_path / "site.zip"
    call_command("casebook", "MINI", "--site", "01", "--output", str(site), stdout=io.StringIO())
    assert "1/1" in capsys.readouterr().err  # the progress bar
    opened = zipfile.ZipFile(site)
    manifest = json.loads(opened.read("manifest.json"))
    assert manifest["site"] == "01"
    assert manifest["casebooks"][0]["blinded"] is True  # a command reads blinded
    assert opened.read(manifest["casebooks"][0]["file"]).startswith(b"%PDF")
    actions = list(AuditEvent.objects.order_by("-pk").values_list("action", flat=True)[:2])
    assert actions == ["casebook.archive_exported", "casebook.exported"]
    with pytest.raises(CommandError, match="no site '09'"):
        call_command("casebook", "MINI", "--site", "09", "--output", str(tmp_path / "x.zip"))
    with pytest.raises(CommandError, match="No subject 09-001"):
        call_command("casebook", "MINI", "--subject", "09-001", "--output", str(tmp_path / "x"))
    assert not (tmp_path / "x.zip").exists()
