"""CSV files through the bulk path as Excel writes them, and the problems a data manager must
see located before anything is written."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from carnet.audit.models import AuditEvent
from carnet.capture.bulk import (
    FileRefused,
    ImportRefused,
    csv_records_read,
    files_import,
    import_template,
)
from carnet.capture.bulk.csv_files import read_limited
from carnet.capture.models import FormInstance, ItemValue
from tests.capture.conftest import Capture, include

pytestmark = pytest.mark.django_db

REASON = "Laboratory export"


def run(c: Capture, files: dict[str, bytes], *, dry_run: bool = False):  # type: ignore[no-untyped-def]
    return files_import(
        actor=c.entry,
        study=c.world.study,
        files=[(name, io.BytesIO(data)) for name, data in files.items()],
        reason=REASON,
        dry_run=dry_run,
    )


def test_the_template_names_the_columns_types_ranges_and_codes(capture: Capture) -> None:
    template = import_template(study=capture.world.study, form="vitals")
    header, described = template.splitlines()
    assert (
        header
        == "subject,event,occurrence,repeat,complete,weight,height,sbp,dbp,smoker,packs,vs_date"
    )
    assert "decimal; 20..250; kg; required" in described
    assert "single_choice; 1=Yes | 0=No" in described
    assert import_template(study=capture.world.study, form="lesions").startswith(
        "subject,event,occurrence,repeat,row,complete,lesion_site,diameter"
    )


def test_a_french_excel_file_with_semicolons_decimal_commas_and_accents_is_read(
    capture: Capture,
) -> None:
    s = capture.subject.identifier
    text = f"subject;event;weight;height;vs_date\r\n{s};baseline;72,5;175;2026-01-05\r\n"
    outcome = run(capture, {"vitals.csv": text.encode("cp1252")})
    assert outcome.values_changed == 4  # bmi computed
    assert ItemValue.objects.get(item="weight").text == "72.5"


def test_a_byte_order_mark_and_windows_1252_text_are_read(capture: Capture) -> None:
    s = capture.subject.identifier
    text = f"subject,event,lesion_site,row,diameter\n{s},baseline,Hépatique,1,23\n"
    run(capture, {"lesions.csv": b"\xef\xbb\xbf" + text.encode()})
    assert ItemValue.objects.get(item="lesion_site").text == "Hépatique"
    text2 = f"subject,event,lesion_site,row,diameter\n{s},baseline,Pulmonaire é,2,31\n"
    run(capture, {"lesions.csv": text2.encode("cp1252")})
    assert ItemValue.objects.get(item="lesion_site", row=2).text == "Pulmonaire é"


def test_an_undecodable_file_is_refused_with_its_line(capture: Capture) -> None:
    data = b"subject,weight\n01-001,70\n01-002,\x81\x8d\n"
    with pytest.raises(FileRefused) as refused:
        run(capture, {"vitals.csv": data})
    assert "vitals.csv, line 3" in str(refused.value)
    assert not FormInstance.objects.exists()


def test_unknown_columns_and_repeated_lines_are_located_and_nothing_is_written(
    capture: Capture,
) -> None:
    s, other = capture.subject.identifier, include(capture.world, capture.entry).identifier
    data = (
        f"subject,event,weight,colour,bmi\n{s},baseline,70,,\n".encode()
        + f"{other},baseline,80,,\n{s},baseline,70,,\n".encode()
    )
    with pytest.raises(ImportRefused) as refused:
        run(capture, {"vitals.csv": data})
    assert [str(p) for p in refused.value.problems] == [
        "vitals.csv:1, colour: 'vitals' has no item 'colour'.",
        "vitals.csv:1, bmi: this item is calculated or a file; it cannot be imported.",
    ]
    data = f"subject,event,weight\n{s},baseline,70\n{other},baseline,80\n{s},baseline,70\n"
    with pytest.raises(ImportRefused) as refused:
        run(capture, {"vitals.csv": data.encode()})
    assert [str(p) for p in refused.value.problems] == [
        "vitals.csv:4: this line repeats line 2 (same subject, event and form).",
    ]
    assert not FormInstance.objects.exists()


def test_a_dry_run_lists_every_problem_with_file_line_and_column(capture: Capture) -> None:
    s = capture.subject.identifier
    data = f"subject;event;weight;smoker\n{s};baseline;heavy;7\nXX-999;baseline;70;1\n"
    outcome = run(capture, {"vitals.csv": data.encode()}, dry_run=True)
    assert [str(p) for p in outcome.problems] == [
        "vitals.csv:3, subject: no subject 'XX-999' in this study (an import does not create "
        "subjects).",
        "vitals.csv:2, weight: 'heavy' is not a number.",
        "vitals.csv:2, smoker: '7' is not one of the codes [1, 0].",
    ]
    assert not FormInstance.objects.exists()


def test_a_file_past_the_size_limit_is_refused_while_it_is_read() -> None:
    class Endless(io.RawIOBase):
        read_calls = 0

        def readable(self) -> bool:
            return True

        def read(self, size: int = -1) -> bytes:
            Endless.read_calls += 1
            return b"x" * size

    with pytest.raises(FileRefused, match="larger than 2 MB"):
        read_limited(Endless(), "huge.csv", limit=2 * 1024 * 1024)
    assert Endless.read_calls == 3  # streamed: stopped one chunk past the limit


def test_the_size_limit_is_a_runtime_setting(capture: Capture) -> None:
    from carnet.audit.services import SystemActor
    from carnet.capture.bulk.csv_files import import_limit_bytes
    from carnet.runtime_settings.services import system_setting_change

    assert import_limit_bytes() == 512 * 1024 * 1024
    system_setting_change(
        actor=SystemActor.command_line("test"),
        key="import_max_megabytes",
        value=1,
        reason="small server",
    )
    assert import_limit_bytes() == 1024 * 1024
    big = b"subject,weight\n" + b"x" * (2 * 1024 * 1024)
    with pytest.raises(FileRefused, match="larger than 1 MB"):
        run(capture, {"vitals.csv": big})


def test_a_missing_data_code_in_a_cell_is_entered_as_such(capture: Capture) -> None:
    s = capture.subject.identifier
    read = csv_records_read(
        study=capture.world.study,
        name="vitals.csv",
        data=f"subject,event,height\n{s},baseline,UNK\n".encode(),
    )
    assert read.records[0].values["height"].code == "UNK"


def test_the_command_line_imports_dry_runs_and_prints_the_template(
    capture: Capture, tmp_path: Path
) -> None:
    s = capture.subject.identifier
    path = tmp_path / "vitals.csv"
    path.write_text(f"subject;event;weight;sbp;dbp\n{s};baseline;70,5;80;90\n", encoding="utf-8")
    out = io.StringIO()
    call_command("import", "MINI", str(path), "--reason", REASON, "--dry-run", stdout=out)
    assert "Dry run" in out.getvalue()
    assert not FormInstance.objects.exists()
    before = AuditEvent.objects.count()
    call_command("import", "MINI", str(path), "--reason", REASON, stdout=io.StringIO())
    assert ItemValue.objects.get(item="weight").text == "70.5"
    assert AuditEvent.objects.filter(pk__gt=before, reason=REASON).count() >= 4
    out = io.StringIO()
    call_command("import", "template", "MINI", "vitals", stdout=out)
    assert out.getvalue().startswith("subject,event,")
    path.write_text(f"subject;event;weight\n{s};baseline;12\n", encoding="utf-8")
    err = io.StringIO()
    with pytest.raises(CommandError, match="1 problem"):
        call_command("import", "MINI", str(path), "--reason", REASON, stderr=err)
    assert "vitals.csv:2, weight: 12 is below the minimum 20 kg." in err.getvalue()


def test_the_api_dry_runs_then_imports_an_uploaded_file(capture: Capture) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.test import Client

    s = capture.subject.identifier
    client = Client()
    client.force_login(capture.entry)
    url = "/api/studies/MINI/imports"

    def upload(text: str) -> SimpleUploadedFile:
        return SimpleUploadedFile("vitals.csv", text.encode("cp1252"), content_type="text/csv")

    bad = client.post(
        url,
        {
            "files": upload(f"subject;event;weight\n{s};baseline;12\n"),
            "reason": REASON,
            "dry_run": "true",
        },
    )
    assert bad.status_code == 200
    assert bad.json()["problems"] == [
        {"source": "vitals.csv:2", "place": "weight", "message": "12 is below the minimum 20 kg."}
    ]
    assert not FormInstance.objects.exists()
    good = client.post(
        url, {"files": upload(f"subject;event;weight\n{s};baseline;72,5\n"), "reason": REASON}
    )
    assert good.status_code == 200, good.content
    assert good.json()["values_changed"] == 1
    assert ItemValue.objects.get(item="weight").text == "72.5"
    client.force_login(capture.monitor)
    refused = client.post(url, {"files": upload("subject\n"), "reason": REASON})
    assert refused.status_code == 403


def test_the_import_page_dry_runs_lists_the_problems_then_imports(capture: Capture) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.test import Client
    from django.urls import reverse

    s = capture.subject.identifier
    client = Client()
    client.force_login(capture.entry)
    url = reverse("capture:import", args=["MINI"])
    assert client.get(url).status_code == 200

    def upload(text: str) -> SimpleUploadedFile:
        return SimpleUploadedFile("vitals.csv", text.encode("cp1252"), content_type="text/csv")

    page = client.post(
        url,
        {
            "files": upload(f"subject;event;weight\n{s};baseline;12\n"),
            "reason": REASON,
            "dry_run": "1",
        },
    )
    assert page.status_code == 200
    assert "12 is below the minimum 20 kg." in page.content.decode()
    assert not FormInstance.objects.exists()
    page = client.post(
        url, {"files": upload(f"subject;event;weight\n{s};baseline;72,5\n"), "reason": REASON}
    )
    assert page.status_code == 200
    assert ItemValue.objects.get(item="weight").text == "72.5"
    client.force_login(capture.monitor)
    assert client.get(url).status_code == 404
