"""CSV files through the bulk path as Excel writes them, and the problems a data manager must
see located before anything is written."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from carnet.accounts.roles import Role
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
from tests.accounts.personas import person
from tests.capture.conftest import Capture, include
from tests.web.helpers import enrol

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


def test_the_import_page_queues_a_dry_run_shows_its_progress_and_problems_then_imports(
    capture: Capture, django_capture_on_commit_callbacks: Any
) -> None:
    """The page queues the work for the worker (a page request is stopped after a minute), shows
    a progress bar the page asks for again every second, then the problems, located; then the
    corrected file is imported."""
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.test import Client
    from django.urls import reverse
    from django_tasks_db.models import DBTaskResult

    from carnet.capture.bulk.run_models import ImportRun, ImportRunFile
    from carnet.capture.bulk.tasks import import_run_task

    s = capture.subject.identifier
    client = Client()
    client.force_login(capture.entry)
    url = reverse("capture:import", args=["MINI"])
    assert client.get(url).status_code == 200

    def upload(text: str) -> SimpleUploadedFile:
        return SimpleUploadedFile("vitals.csv", text.encode("cp1252"), content_type="text/csv")

    with django_capture_on_commit_callbacks(execute=True):
        answer = client.post(
            url,
            {
                "files": upload(f"subject;event;weight\n{s};baseline;12\n"),
                "reason": REASON,
                "dry_run": "1",
            },
        )
    assert answer.status_code == 302
    run = ImportRun.objects.get()
    assert DBTaskResult.objects.filter(args_kwargs__args=[run.pk]).count() == 1
    queued = client.get(url).content.decode()
    assert 'hx-trigger="every 1s"' in queued
    assert "Waiting for the worker." in queued
    assert 'id="import-bar"' in queued

    import_run_task.call(run.pk)

    progress = client.get(reverse("capture:import_progress", args=["MINI", run.pk]))
    text = progress.content.decode()
    assert "hx-trigger" not in text  # finished: the page stops asking
    assert "vitals.csv:2" in text
    assert "12 is below the minimum 20 kg." in text
    assert not FormInstance.objects.exists()
    run.refresh_from_db()
    assert (run.status, run.problems_total) == ("done", 1)
    assert not ImportRunFile.objects.exists()  # the file's values are nowhere now: no copy kept

    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            url, {"files": upload(f"subject;event;weight\n{s};baseline;72,5\n"), "reason": REASON}
        )
    second = ImportRun.objects.exclude(pk=run.pk).get()
    import_run_task.call(second.pk)
    page = client.get(url).content.decode()
    assert "1 forms read: 1 values changed in 1 forms" in page
    assert ItemValue.objects.get(item="weight").text == "72.5"
    assert AuditEvent.objects.filter(action="item.changed", reason=REASON).exists()
    # Another person sees neither the run nor its progress; a monitor not even the page.
    other = Client()
    other.force_login(person("dm2", study=capture.world.study, role=Role.DATA_MANAGER))
    enrol(other)  # a data manager signs in with a second factor
    assert other.get(url).status_code == 200
    assert "Your last import" not in other.get(url).content.decode()
    progress_url = reverse("capture:import_progress", args=["MINI", second.pk])
    assert other.get(progress_url).status_code == 404
    client.force_login(capture.monitor)
    assert client.get(url).status_code == 404


def test_an_import_with_a_bad_row_is_refused_by_the_worker_and_writes_nothing(
    capture: Capture, django_capture_on_commit_callbacks: Any
) -> None:
    from carnet.capture.bulk.run_models import ImportRunFile
    from carnet.capture.bulk.runs import import_run_execute, import_run_request

    s = capture.subject.identifier
    data = f"subject;event;weight\n{s};baseline;72\n{s};nowhere;70\n".encode()
    with django_capture_on_commit_callbacks(execute=False):
        run = import_run_request(
            actor=capture.entry,
            study=capture.world.study,
            files=[("vitals.csv", io.BytesIO(data))],
            reason=REASON,
            dry_run=False,
        )
    assert ImportRunFile.objects.get(run=run).content == data
    run = import_run_execute(run=run)
    assert run.status == "refused"
    assert run.problems_total >= 1
    assert run.problems[0]["source"] == "vitals.csv:3"
    assert not FormInstance.objects.exists()
    assert not ImportRunFile.objects.exists()
    # A task run twice leaves a finished run as it is.
    assert import_run_execute(run=run).finished_at == run.finished_at


def test_what_the_page_can_refuse_at_once_it_refuses_before_queueing(capture: Capture) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.test import Client
    from django.urls import reverse

    from carnet.capture.bulk.run_models import ImportRun

    client = Client()
    client.force_login(capture.entry)
    url = reverse("capture:import", args=["MINI"])
    no_file = client.post(url, {"reason": REASON})
    assert no_file.status_code == 400
    assert "Choose at least one CSV file to import." in no_file.content.decode()
    file = SimpleUploadedFile("vitals.csv", b"subject;weight\n", content_type="text/csv")
    no_reason = client.post(url, {"files": file, "reason": " "})
    assert no_reason.status_code == 400
    assert "a reason is required" in no_reason.content.decode()
    assert not ImportRun.objects.exists()


def test_the_progress_of_a_running_import_is_read_from_the_worker(capture: Capture) -> None:
    """While the import's transaction holds the database (SQLite's one write lock), the worker
    tells its progress through a file the page reads."""
    from carnet.capture.bulk.run_models import ImportRun
    from carnet.capture.bulk.runs import _progress_file, _progress_write, import_run_progress

    run = ImportRun.objects.create(
        study=capture.world.study, requested_by=capture.entry, status="running"
    )
    assert import_run_progress(run) == (0, 0)
    _progress_write(_progress_file(run.pk), 500, 2_000)
    assert import_run_progress(run) == (500, 2_000)
    _progress_file(run.pk).unlink()
