"""The casebook and the case report form pages as site staff meet them: saving a whole page,
refusals next to their items, live validation that writes nothing, rows, reasons, history, files,
and the same 404 for everything of another site."""

from __future__ import annotations

import hashlib
import re
from typing import Any

import pytest
from django.test import Client

from carnet.audit.models import AuditEvent
from carnet.capture.models import CheckResult, FormInstance, ItemValue
from carnet.capture.services import form_save
from tests.capture.conftest import Capture

pytestmark = pytest.mark.django_db

SUBJECT = "/studies/MINI/subjects/01-001/"
VITALS = SUBJECT + "forms/baseline/1/vitals/"
LESIONS = SUBJECT + "forms/baseline/1/lesions/"
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


def client_of(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def vitals(**changes: str) -> dict[str, str]:
    """Return a posted vitals page: every item as the page sends it, with ``changes``."""
    page = {
        "version": "0",
        "v-weight": "70",
        "v-height": "175",
        "v-sbp": "130",
        "v-dbp": "80",
        "v-smoker": "0",
        "v-packs": "",
    }
    page.update(dict.fromkeys(("m-weight", "m-height", "m-sbp", "m-dbp", "m-smoker"), ""))
    page["m-packs"] = ""
    page.update(changes)
    return page


def lesion_rows(*rows: tuple[str, str], version: int = 0, **extra: str) -> dict[str, Any]:
    page: dict[str, Any] = {"version": str(version), "row-target": []}
    for number, (site, diameter) in enumerate(rows, start=1):
        page["row-target"].append(str(number))
        page[f"v-target-{number}-lesion_site"] = site
        page[f"v-target-{number}-diameter"] = diameter
    page.update(extra)
    return page


def stored(form: str = "vitals") -> dict[tuple[str, int], str]:
    return {
        (v.item, v.row): v.text or v.missing_code
        for v in ItemValue.objects.filter(form_instance__form=form, removed=False)
    }


def messages_of(html: str, cell: str) -> str:
    """Return the text of the message box next to one cell."""
    match = re.search(
        rf'<div class="capture-messages" id="msg-{cell}"[^>]*>(.*?)</div>', html, re.S
    )
    assert match, cell
    return re.sub(r"<[^>]+>", "", match.group(1))


def test_the_casebook_shows_each_visit_and_each_form_by_status(capture: Capture) -> None:
    form_save(
        actor=capture.entry,
        subject=capture.subject,
        event="baseline",
        form="vitals",
        base_version=0,
        values={"sbp": 80, "dbp": 90},
    )
    response = client_of(capture.entry).get(SUBJECT + "casebook/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Vital signs" in html
    assert "Target lesions" in html
    assert "Baseline" in html
    assert "2026-01-05" in html
    vitals_cell = re.search(r'<td class="form-cell status-(\w+)"><a href="([^"]+vitals/)"', html)
    assert "Vital signs, Baseline 1: </span>in progress" in html
    assert vitals_cell
    assert vitals_cell.groups() == ("in_progress", VITALS)
    assert "1 check" in html
    assert f'href="{LESIONS}"' in html
    assert "not-collected" in html  # lesions are not collected at cycles
    assert "Adverse events" in html  # an unscheduled event offers its forms


def test_the_form_page_shows_every_item_with_its_label_hint_and_missing_code(
    capture: Capture,
) -> None:
    html = client_of(capture.entry).get(VITALS).content.decode()
    assert '<label class="capture-label" for="f-weight">Weight' in html
    assert 'name="v-weight"' in html
    assert 'inputmode="decimal"' in html
    assert 'aria-describedby="hint-weight msg-weight"' in html
    assert 'name="m-weight"' in html
    assert "UNK — Unknown" in html
    assert 'id="calc-bmi"' in html
    # Branching: pack-years are asked of smokers only, and nobody has said "smoker" yet.
    assert re.search(r'id="item-packs" data-cell="packs" hidden', html)
    lesions = client_of(capture.entry).get(LESIONS).content.decode()
    assert 'name="v-target-1-lesion_site"' in lesions  # an empty first row to start with
    assert 'form="upload-scan_pdf"' in lesions


def test_a_whole_page_saves_values_missing_codes_and_the_calculation(capture: Capture) -> None:
    client = client_of(capture.entry)
    response = client.post(
        VITALS, vitals(**{"v-weight": "72,5", "v-smoker": "1", "m-packs": "UNK"})
    )
    assert response.status_code == 302
    assert stored() == {
        ("weight", 0): "72.5",
        ("height", 0): "175",
        ("bmi", 0): "23.673469",
        ("sbp", 0): "130",
        ("dbp", 0): "80",
        ("smoker", 0): "1",
        ("packs", 0): "UNK",
    }
    page = client.get(VITALS).content.decode()
    assert "The form is saved." in page
    assert re.search(r'id="calc-bmi"[^>]*>23.673469<', page)
    assert re.search(r'<option value="UNK" selected>', page)
    assert not re.search(r'id="item-packs"[^>]*hidden', page)


def test_bad_input_shows_located_errors_keeps_what_was_typed_and_writes_nothing(
    capture: Capture,
) -> None:
    response = client_of(capture.entry).post(
        VITALS,
        vitals(
            **{"v-weight": "heavy", "v-height": "175.5", "v-smoker": "7", "m-sbp": "XX"},
            **{"v-sbp": "", "v-unknown": "1"},
        ),
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert "&#x27;heavy&#x27; is not a number." in messages_of(html, "weight")
    assert "not a whole number" in messages_of(html, "height")
    assert "is not one of the codes" in messages_of(html, "smoker")
    assert "not a missing-data code of this study" in messages_of(html, "sbp")
    assert 'value="heavy"' in html
    assert 'value="175.5"' in html
    assert re.search(r'id="f-weight"[^>]*aria-invalid="true"', html)
    assert not FormInstance.objects.exists()
    assert not AuditEvent.objects.filter(action="item.changed").exists()


def test_a_value_and_a_missing_code_together_are_refused_in_place(capture: Capture) -> None:
    response = client_of(capture.entry).post(VITALS, vitals(**{"m-weight": "ND"}))
    assert response.status_code == 400
    assert "not both" in messages_of(response.content.decode(), "weight")
    assert not ItemValue.objects.exists()


def test_a_hard_check_refuses_the_page_next_to_both_items_in_french(capture: Capture) -> None:
    client = client_of(capture.entry)
    client.post("/language/", {"language": "fr", "next": "/"})
    response = client.post(VITALS, vitals(**{"v-weight": "240", "v-height": "150"}))
    assert response.status_code == 400
    html = response.content.decode()
    for cell in ("weight", "height"):
        assert "Un IMC de 70 ou plus n&#x27;est pas plausible" in messages_of(html, cell)
    assert not ItemValue.objects.exists()


def test_a_ten_megabyte_string_is_refused_without_an_error_page(capture: Capture) -> None:
    response = client_of(capture.entry).post(VITALS, vitals(**{"v-weight": "9" * 10_000_000}))
    assert response.status_code == 400
    assert not ItemValue.objects.exists()
    long_text = lesion_rows(("x" * 5000, "20"))
    response = client_of(capture.entry).post(LESIONS, long_text)
    assert response.status_code == 400
    assert "at most 4000" in messages_of(response.content.decode(), "target-1-lesion_site")
    assert not ItemValue.objects.exists()


def test_html_in_a_text_value_is_stored_as_text_and_always_shown_escaped(
    capture: Capture,
) -> None:
    hostile = '<script>alert("x")</script><b onmouseover=alert(1)>'
    client = client_of(capture.entry)
    assert client.post(LESIONS, lesion_rows((hostile, "20"))).status_code == 302
    assert ItemValue.objects.get(item="lesion_site").text == hostile
    for page in (LESIONS, LESIONS + "history/lesion_site/?row=1"):
        html = client.get(page).content.decode()
        assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html, page
        assert "<script>alert" not in html, page
        assert "<b onmouseover" not in html, page


def test_three_rows_are_saved_and_a_removed_row_goes_with_the_sum(capture: Capture) -> None:
    client = client_of(capture.entry)
    page = lesion_rows(("liver", "23"), ("lung", "31"), ("node", "15"))
    assert client.post(LESIONS, page).status_code == 302
    assert stored("lesions")[("sum_diameters", 0)] == "69"
    html = client.get(LESIONS).content.decode()
    assert all(f'name="row-target" value="{n}"' in html for n in (1, 2, 3))
    removal = lesion_rows(("liver", "23"), ("lung", "31"), ("node", "15"), version=1)
    removal["x-target-2"] = "1"
    assert client.post(LESIONS, removal).status_code == 302
    rows = stored("lesions")
    assert rows[("sum_diameters", 0)] == "38"
    assert ("lesion_site", 2) not in rows
    assert rows[("lesion_site", 3)] == "node"
    assert 'name="row-target" value="2"' not in client.get(LESIONS).content.decode()
    # The last row removed: a new row takes the next number, never the removed row's history.
    last = {
        "version": "2",
        "row-target": ["1", "3"],
        "v-target-1-lesion_site": "liver",
        "v-target-1-diameter": "23",
        "v-target-3-lesion_site": "node",
        "v-target-3-diameter": "15",
        "x-target-3": "1",
    }
    assert client.post(LESIONS, last).status_code == 302
    assert ("lesion_site", 3) not in stored("lesions")
    added = client.get(LESIONS + "rows/target/new/?row-target=1", HTTP_HX_REQUEST="true")
    assert 'name="v-target-4-diameter"' in added.content.decode()


def test_a_row_is_added_with_or_without_javascript(capture: Capture) -> None:
    client = client_of(capture.entry)
    # Without JavaScript: the button posts the page, which comes back with one more row.
    page = lesion_rows(("liver", "23"), add_row="target")
    response = client.post(LESIONS, page)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'value="liver"' in html
    assert 'name="v-target-2-diameter"' in html
    assert not ItemValue.objects.exists()
    # With htmx: an empty row numbered after those on the page.
    response = client.get(
        LESIONS + "rows/target/new/?row-target=1&row-target=2", HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    row = response.content.decode()
    assert row.lstrip().startswith("<tr")
    assert 'name="v-target-3-diameter"' in row
    assert client.get(LESIONS + "rows/unknown/new/").status_code == 404


def test_a_completed_form_changes_only_with_a_reason_shown_in_the_history(
    capture: Capture,
) -> None:
    client = client_of(capture.entry)
    assert client.post(VITALS, vitals(complete="1")).status_code == 302
    assert FormInstance.objects.get(form="vitals").status == "complete"
    html = client.get(VITALS).content.decode()
    assert 'id="f-reason"' in html
    refused = client.post(VITALS, vitals(version="1", **{"v-weight": "71"}))
    assert refused.status_code == 400
    assert "say why you change it" in messages_of(refused.content.decode(), "reason")
    assert stored()[("weight", 0)] == "70"
    saved = client.post(
        VITALS, vitals(version="1", reason="transcription error", **{"v-weight": "71"})
    )
    assert saved.status_code == 302
    drawer = client.get(VITALS + "history/weight/?row=0", HTTP_HX_REQUEST="true")
    assert drawer.status_code == 200
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", drawer.content.decode()))
    assert "julie (Julie) 70 71 transcription error" in text
    assert "<html" not in drawer.content.decode()  # the panel only, for the drawer
    assert "<html" in client.get(VITALS + "history/weight/").content.decode()


def test_a_stale_save_shows_what_changed_and_a_reload_link(capture: Capture) -> None:
    client = client_of(capture.entry)
    form_save(
        actor=capture.entry,
        subject=capture.subject,
        event="baseline",
        form="vitals",
        base_version=0,
        values={"weight": 80},
    )
    response = client.post(VITALS, vitals(version="0", **{"v-weight": "70"}))
    assert response.status_code == 409
    html = response.content.decode()
    assert 'id="conflict"' in html
    assert "weight — Julie" in html
    assert f'<a href="{VITALS}">Reload the form' in html
    assert stored()[("weight", 0)] == "80"


def test_live_validation_tells_checks_branching_and_calculations_and_writes_nothing(
    capture: Capture,
) -> None:
    client = client_of(capture.entry)
    events = AuditEvent.objects.count()
    response = client.post(
        VITALS + "validate/", vitals(**{"v-sbp": "80", "v-dbp": "120"}), HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "SBP must exceed DBP" in messages_of(html, "sbp")
    assert re.search(r'<output id="calc-bmi"[^>]*hx-swap-oob="true">22.857143<', html)
    assert 'data-hidden="packs "' in html
    assert not FormInstance.objects.exists()
    assert not CheckResult.objects.exists()
    assert AuditEvent.objects.count() == events
    smoker = client.post(VITALS + "validate/", vitals(**{"v-smoker": "1"}))
    assert 'data-hidden=""' in smoker.content.decode()
    wrong = client.post(VITALS + "validate/", vitals(**{"v-weight": "12"}))
    assert "below the minimum 20 kg" in messages_of(wrong.content.decode(), "weight")
    assert 'data-branching="unknown"' in wrong.content.decode()
    assert not ItemValue.objects.exists()


def test_the_dry_run_of_the_pipeline_says_what_a_save_would_do_and_writes_nothing(
    capture: Capture,
) -> None:
    events = AuditEvent.objects.count()
    outcome = form_save(
        actor=capture.entry,
        subject=capture.subject,
        event="baseline",
        form="vitals",
        base_version=0,
        values={"weight": 70, "height": 175, "sbp": 80, "dbp": 90, "smoker": 0},
        dry_run=True,
    )
    assert {c["place"]: c["new"]["text"] for c in outcome.changed}["bmi"] == "22.857143"
    assert [c.check_name for c in outcome.soft_checks] == ["bp_order"]
    assert outcome.hidden == ["packs"]
    assert not FormInstance.objects.exists()
    assert not ItemValue.objects.exists()
    assert not CheckResult.objects.exists()
    assert AuditEvent.objects.count() == events


def test_a_soft_check_stays_next_to_its_items_in_the_page_language(capture: Capture) -> None:
    client = client_of(capture.entry)
    response = client.post(VITALS, vitals(**{"v-sbp": "80", "v-dbp": "120"}), follow=True)
    html = response.content.decode()
    assert "1 check(s) to look at" in html
    assert "SBP must exceed DBP" in messages_of(html, "sbp")
    assert "SBP must exceed DBP" in messages_of(html, "dbp")
    client.post("/language/", {"language": "fr", "next": "/"})
    french = client.get(VITALS).content.decode()
    assert "La PAS doit dépasser la PAD" in messages_of(french, "sbp")


def test_a_document_is_checked_uploaded_and_downloaded_on_its_subject_only(
    capture: Capture, settings: Any, tmp_path: Any
) -> None:
    settings.DATA_DIR = tmp_path
    client = client_of(capture.entry)
    upload = LESIONS + "files/scan_pdf/"
    disguised = client.post(
        upload,
        {"version": "0", "upload": _file("scan.pdf", b"MZ\x90\x00 a program, renamed")},
        follow=True,
    )
    assert "not one of the accepted types (pdf)" in disguised.content.decode()
    too_big = client.post(
        upload, {"version": "0", "upload": _file("big.pdf", PDF + b"0" * (6 * 1024 * 1024))}
    )
    assert too_big.status_code == 302
    assert not ItemValue.objects.exists()
    assert (
        client.post(upload, {"version": "0", "upload": _file("scan.pdf", PDF)}).status_code == 302
    )
    assert stored("lesions")[("scan_pdf", 0)] == hashlib.sha256(PDF).hexdigest()
    download = client.get(upload)
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == PDF  # type: ignore[attr-defined]
    assert client_of(capture.other_site).get(upload).status_code == 404


def _file(name: str, content: bytes) -> Any:
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, content, content_type="application/pdf")


def test_a_form_is_marked_not_done_with_its_reason(capture: Capture) -> None:
    client = client_of(capture.entry)
    refused = client.post(
        LESIONS + "not-done/", {"version": "0", "not_done_reason": ""}, follow=True
    )
    assert "Give the reason" in refused.content.decode()
    client.post(LESIONS + "not-done/", {"version": "0", "not_done_reason": "scanner broken"})
    assert FormInstance.objects.get(form="lesions").status == "not_done"
    html = client.get(LESIONS).content.decode()
    assert "not done" in html
    assert "scanner broken" in html
    assert 'id="save"' not in html


def test_a_monitor_reads_the_forms_and_cannot_change_them(capture: Capture) -> None:
    client = client_of(capture.monitor)
    assert client.get(SUBJECT + "casebook/").status_code == 200
    html = client.get(VITALS).content.decode()
    assert 'id="read-only"' in html
    assert 'id="save"' not in html
    assert client.post(VITALS, vitals()).status_code == 404
    assert client.post(VITALS + "validate/", vitals()).status_code == 404
    assert not ItemValue.objects.exists()


def test_a_person_of_site_b_gets_the_same_404_as_for_an_unknown_subject(
    capture: Capture,
) -> None:
    form_save(
        actor=capture.entry,
        subject=capture.subject,
        event="baseline",
        form="vitals",
        base_version=0,
        values={"weight": 80},
    )
    client = client_of(capture.other_site)
    for page in (
        SUBJECT + "casebook/",
        VITALS,
        VITALS + "history/weight/",
        LESIONS + "files/scan_pdf/",
        LESIONS + "rows/target/new/",
        "/studies/MINI/subjects/01-999/casebook/",
    ):
        assert client.get(page).status_code == 404, page
    for page in (VITALS, VITALS + "validate/", VITALS + "not-done/"):
        assert client.post(page, vitals(version="1")).status_code == 404, page
    assert stored() == {("weight", 0): "80"}
    assert FormInstance.objects.get().status == "in_progress"


def test_unknown_events_forms_items_and_occurrences_are_404(capture: Capture) -> None:
    client = client_of(capture.entry)
    for page in (
        SUBJECT + "forms/nowhere/1/vitals/",
        SUBJECT + "forms/baseline/1/nothing/",
        SUBJECT + "forms/cycle/1/lesions/",
        SUBJECT + "forms/baseline/2/vitals/",
        VITALS + "history/colour/",
        VITALS + "files/weight/",
    ):
        assert client.get(page).status_code == 404, page
