"""The casebook and the case report form pages as site staff meet them: saving a whole page,
refusals next to their items, live validation that writes nothing, rows, reasons, history, files,
and the same 404 for everything of another site."""

from __future__ import annotations

import hashlib
import html as entities
import re
from datetime import date
from typing import Any

import pytest
from django.test import Client

from carnet.accounts.services import token_create
from carnet.audit.models import AuditEvent
from carnet.capture.models import CheckResult, FormInstance, ItemValue
from carnet.capture.services import form_mark_not_done, form_save
from carnet.subjects.services import consent_withdraw
from tests.accounts.personas import ADMIN
from tests.capture.conftest import Capture

pytestmark = pytest.mark.django_db

SUBJECT = "/studies/MINI/subjects/01-001/"
VITALS = SUBJECT + "forms/baseline/1/vitals/"
LESIONS = SUBJECT + "forms/baseline/1/lesions/"
AE = SUBJECT + "forms/adverse_events/1/adverse_event/"
MEDICATION = SUBJECT + "forms/baseline/1/medication/"
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


def api_of(capture: Capture, user: Any, *, accept_language: str = "") -> Client:
    """Return an API client with a personal token of ``user``, as scripts call the API."""
    _token, key = token_create(actor=ADMIN, user=user, study=capture.world.study)
    headers = {"authorization": f"Bearer {key}"}
    if accept_language:
        headers["accept-language"] = accept_language
    return Client(headers=headers)


def test_a_french_speaking_person_reads_the_save_refusals_in_french_and_the_api_in_english(
    capture: Capture,
) -> None:
    client = client_of(capture.entry)
    client.post("/language/", {"language": "fr", "next": "/"})  # remembered in the account
    api = api_of(capture, capture.entry)
    api_vitals = "/api/studies/MINI/subjects/01-001/forms/baseline/1/vitals"

    def api_put(client: Client, payload: dict[str, Any]) -> Any:
        return client.put(api_vitals, {"version": 0, **payload}, content_type="application/json")

    below = client.post(VITALS, vitals(**{"v-weight": "12"}))
    assert below.status_code == 400
    assert "12 est inférieur au minimum de 20 kg." in messages_of(below.content.decode(), "weight")
    required = client.post(VITALS, vitals(complete="1", **{"v-weight": ""}))
    assert required.status_code == 400
    assert "Obligatoire : saisissez une valeur ou un code de donnée manquante." in messages_of(
        required.content.decode(), "weight"
    )
    # The same saves through the API answer in English: the account's language is the pages'.
    refused = api_put(api, {"values": {"weight": 12}})
    assert refused.status_code == 400
    assert refused.json()["errors"] == {"weight": "12 is below the minimum 20 kg."}
    refused = api_put(api, {"values": {"height": 170}, "complete": True})
    assert refused.json()["errors"] == {"weight": "Required: enter a value or a missing-data code."}
    # …unless the client asks for French.
    french_api = api_of(capture, capture.entry, accept_language="fr-FR,fr;q=0.9")
    refused = api_put(french_api, {"values": {"weight": 12}})
    assert refused.json()["errors"] == {"weight": "12 est inférieur au minimum de 20 kg."}

    consent_withdraw(
        actor=capture.entry,
        subject=capture.subject,
        kind="follow_up",
        withdrawn_on=date(2026, 3, 1),
    )
    withdrawn = client.post(VITALS, vitals(**{"v-vs_date": "2026-03-15"}))
    assert withdrawn.status_code == 400
    assert (
        "le patient s'est retiré du suivi le 2026-03-01 : seules les données datées de ce jour "
        "ou avant peuvent être saisies"
    ) in entities.unescape(withdrawn.content.decode())
    refused = api_put(api, {"values": {"vs_date": "2026-03-15"}})
    assert refused.status_code == 400
    assert refused.json()["detail"] == (
        "the subject withdrew from follow-up on 2026-03-01: only data dated on or before that "
        "day may be entered"
    )
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
    assert "Weight: 80 — Julie" in html  # the item's label, not its variable name
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
    for page in (VITALS, VITALS + "validate/", VITALS + "not-done/", VITALS + "reopen/"):
        assert client.post(page, vitals(version="1")).status_code == 404, page
    assert stored() == {("weight", 0): "80"}
    assert FormInstance.objects.get().status == "in_progress"
    # The page says so in the layout and the person's language, and shows nothing of the form.
    client.post("/language/", {"language": "fr", "next": "/"})
    for page in (VITALS, "/studies/MINI/subjects/01-999/casebook/"):
        html = client.get(page).content.decode()
        assert "<h1>Page introuvable</h1>" in html, page
        assert "Se déconnecter" in html, page  # the layout, signed in
        assert "Weight" not in html
        assert "Poids" not in html


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


# --- repeating forms: one instance per adverse event, per medication ---------------------------


def adverse_event(term: str, grade: str = "", version: int = 0, **extra: str) -> dict[str, str]:
    page = {"version": str(version), "v-ae_term": term, "v-ae_grade": grade}
    page.update(dict.fromkeys(("m-ae_term", "m-ae_grade"), ""))
    page.update(extra)
    return page


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def links(html: str, label: str) -> list[str]:
    """Return the addresses of the links whose text (hidden words included) has ``label``."""
    return [
        href.replace("&amp;", "&")
        for href, content in re.findall(r'<a href="([^"]+)">(.*?)</a>', html, re.S)
        if label in text_of(content)
    ]


def test_a_second_adverse_event_is_added_from_the_casebook_and_both_keep_their_status(
    repeating: Capture,
) -> None:
    client = client_of(repeating.entry)
    casebook = client.get(SUBJECT + "casebook/").content.decode()
    # Nothing entered yet: one link, to the first adverse event, and nothing to add to.
    assert links(casebook, "Adverse event") == [AE + "?repeat=1"]
    assert not links(casebook, "Add another")
    first = client.post(AE + "?repeat=1", adverse_event("nausea", "2", complete="1"))
    assert first.status_code == 302
    assert first["Location"] == AE + "?repeat=1"

    casebook = client.get(SUBJECT + "casebook/").content.decode()
    (another,) = links(casebook, "Adverse event, Adverse events: Add another")
    assert another == AE + "?repeat=2"
    page = client.get(another).content.decode()
    assert re.search(r'<h1 id="form-title">Adverse event 2 <span', page)
    assert f'action="{AE}?repeat=2"' in page
    assert 'name="v-ae_term" value=""' in page  # a new, empty adverse event
    second = client.post(another, adverse_event("rash"))
    assert second.status_code == 302
    assert second["Location"] == AE + "?repeat=2"

    instances = FormInstance.objects.filter(form="adverse_event").order_by("repeat")
    assert [(i.repeat, i.status) for i in instances] == [(1, "complete"), (2, "in_progress")]
    assert {
        (v.form_instance.repeat, v.item): v.text
        for v in ItemValue.objects.filter(form_instance__form="adverse_event")
    } == {(1, "ae_term"): "nausea", (1, "ae_grade"): "2", (2, "ae_term"): "rash"}
    casebook = client.get(SUBJECT + "casebook/").content.decode()
    assert links(casebook, "Adverse event 1, Adverse events: 1 · complete") == [AE + "?repeat=1"]
    assert links(casebook, "Adverse event 2, Adverse events: 2 · in progress") == [AE + "?repeat=2"]
    assert re.search(r'class="form-repeat status-complete"><a href="[^"]+\?repeat=1"', casebook)
    assert re.search(r'class="form-repeat status-in_progress"><a href="[^"]+\?repeat=2"', casebook)
    assert links(casebook, "Add another") == [AE + "?repeat=3"]
    # Each instance keeps its own values and its own version.
    assert 'value="nausea"' in client.get(AE + "?repeat=1").content.decode()
    assert 'value="rash"' in client.get(AE + "?repeat=2").content.decode()
    client.post("/language/", {"language": "fr", "next": "/"})
    french = client.get(AE + "?repeat=2").content.decode()
    assert re.search(r'<h1 id="form-title">Événement indésirable 2 <span', french)
    assert "Ajouter un autre formulaire" in client.get(SUBJECT + "casebook/").content.decode()


def test_a_repeating_form_of_a_visit_lists_its_instances_in_the_casebook_cell(
    repeating: Capture,
) -> None:
    for repeat, name, complete in ((1, "aspirin", False), (2, "paracetamol", True)):
        form_save(
            actor=repeating.entry,
            subject=repeating.subject,
            event="baseline",
            form="medication",
            repeat=repeat,
            base_version=0,
            values={"cm_name": name},
            complete=complete,
        )
    html = client_of(repeating.entry).get(SUBJECT + "casebook/").content.decode()
    cell = re.search(r'<td class="form-cell repeating">(.*?)</td>', html, re.S)
    assert cell
    assert links(cell.group(1), "Medication 1, Baseline 1: 1 · in progress") == [
        MEDICATION + "?repeat=1"
    ]
    assert links(cell.group(1), "Medication 2, Baseline 1: 2 · complete") == [
        MEDICATION + "?repeat=2"
    ]
    assert links(cell.group(1), "Medication, Baseline 1: Add another") == [MEDICATION + "?repeat=3"]
    # A monitor reads both and is offered nothing to add.
    monitor = client_of(repeating.monitor).get(SUBJECT + "casebook/").content.decode()
    assert links(monitor, "Medication 2, Baseline 1") == [MEDICATION + "?repeat=2"]
    assert not links(monitor, "Add another")


def changes_in(history: str) -> list[tuple[str, str]]:
    """Return the (old value, new value) of each change in a history table."""
    rows = re.findall(
        r"<tr>\s*<td>.*?</td>\s*<td>.*?</td>\s*<td>(.*?)</td>\s*<td>(.*?)</td>", history
    )
    return [(old.strip(), new.strip()) for old, new in rows]


def test_every_page_of_a_second_adverse_event_works_on_that_instance_only(
    repeating: Capture,
) -> None:
    client = client_of(repeating.entry)
    assert client.post(AE + "?repeat=1", adverse_event("nausea", "1")).status_code == 302
    assert client.post(AE + "?repeat=2", adverse_event("rash")).status_code == 302
    assert client.post(AE + "?repeat=2", adverse_event("rash", "3", version=1)).status_code == 302
    page = client.get(AE + "?repeat=2").content.decode()
    assert f'hx-post="{AE}validate/?repeat=2"' in page
    assert f'href="{AE}history/ae_grade/?row=0&amp;repeat=2"' in page
    assert f'action="{AE}not-done/?repeat=2"' in page
    history = client.get(AE + "history/ae_grade/?row=0&repeat=2").content.decode()
    assert changes_in(history) == [("—", "3")]
    assert f'<a href="{AE}?repeat=2">Back to the form' in history
    assert changes_in(client.get(AE + "history/ae_grade/?repeat=1").content.decode()) == [
        ("—", "1")
    ]
    # Live validation checks the second event against its own version, not the first one's.
    live = client.post(AE + "validate/?repeat=2", adverse_event("rash", "9", version=2))
    assert "9 is above the maximum 5." in messages_of(live.content.decode(), "ae_grade")
    assert 'id="conflict"' not in live.content.decode()
    stale = client.post(AE + "validate/?repeat=2", adverse_event("rash", "2", version=1))
    assert 'id="conflict"' in stale.content.decode()
    marked = client.post(
        AE + "not-done/?repeat=2", {"version": "2", "not_done_reason": "PATIENT_REFUSED"}
    )
    assert marked["Location"] == AE + "?repeat=2"
    instances = FormInstance.objects.filter(form="adverse_event").order_by("repeat")
    assert [(i.repeat, i.status) for i in instances] == [(1, "in_progress"), (2, "not_done")]
    # Marked not done, the second event shows the study's words for why, and reopens alone.
    page = client.get(AE + "?repeat=2").content.decode()
    assert "not done</span> (Patient refused)" in page
    assert f'action="{AE}reopen/?repeat=2"' in page
    reopened = client.post(AE + "reopen/?repeat=2", {"version": "3", "reason": "he agreed"})
    assert reopened["Location"] == AE + "?repeat=2"
    instances = FormInstance.objects.filter(form="adverse_event").order_by("repeat")
    assert [(i.repeat, i.status) for i in instances] == [(1, "in_progress"), (2, "in_progress")]


def test_a_repeat_number_is_404_where_there_is_no_such_instance(repeating: Capture) -> None:
    client = client_of(repeating.entry)
    assert client.get(VITALS + "?repeat=1").status_code == 200
    for page in (
        VITALS + "?repeat=2",
        VITALS + "history/weight/?repeat=2",
        LESIONS + "rows/target/new/?repeat=2",
        AE + "?repeat=0",
        AE + "?repeat=-1",
        AE + "?repeat=two",
        AE + "?repeat=2",  # no first adverse event yet: the pages never leave a gap
        AE + "?repeat=99999999999999999999",
    ):
        assert client.get(page).status_code == 404, page
    for page in (
        VITALS + "?repeat=2",
        VITALS + "validate/?repeat=2",
        VITALS + "not-done/?repeat=2",
    ):
        assert client.post(page, vitals()).status_code == 404, page
    assert not FormInstance.objects.exists()


def test_a_person_of_another_site_cannot_open_or_add_an_adverse_event(
    repeating: Capture,
) -> None:
    for repeat, term in ((1, "nausea"), (2, "rash")):
        form_save(
            actor=repeating.entry,
            subject=repeating.subject,
            event="adverse_events",
            form="adverse_event",
            repeat=repeat,
            base_version=0,
            values={"ae_term": term},
        )
    client = client_of(repeating.other_site)
    for page in (AE + "?repeat=2", AE + "?repeat=3", AE + "history/ae_term/?repeat=2"):
        assert client.get(page).status_code == 404, page
    for page in (AE + "?repeat=2", AE + "?repeat=3", AE + "not-done/?repeat=2"):
        assert client.post(page, adverse_event("fever", version=1)).status_code == 404, page
    assert {v.text for v in ItemValue.objects.all()} == {"nausea", "rash"}
    assert FormInstance.objects.count() == 2


# --- reopening a form marked not done ---------------------------------------------------------


def test_a_form_not_done_is_reopened_with_a_reason_and_keeps_its_values(
    capture: Capture,
) -> None:
    client = client_of(capture.entry)
    assert client.post(LESIONS, lesion_rows(("liver", "23"))).status_code == 302
    form_mark_not_done(
        actor=capture.entry,
        subject=capture.subject,
        event="baseline",
        form="lesions",
        base_version=1,
        reason="scanner broken",
    )
    html = client.get(LESIONS).content.decode()
    assert "not done</span> (scanner broken)" in html
    assert "reopen it to enter data" in html
    assert f'<form method="post" action="{LESIONS}reopen/"' in html
    assert re.search(r'<input type="text" id="f-reopen-reason" name="reason"[^>]* required>', html)
    assert '<label for="f-reopen-reason">' in html

    refused = client.post(LESIONS + "reopen/", {"version": "2", "reason": " "}, follow=True)
    assert "Say why the form is reopened." in refused.content.decode()
    client.post("/language/", {"language": "fr", "next": "/"})
    french = client.post(LESIONS + "reopen/", {"version": "2", "reason": ""}, follow=True)
    assert "Indiquez pourquoi le formulaire est rouvert." in french.content.decode()
    client.post("/language/", {"language": "en", "next": "/"})
    stale = client.post(LESIONS + "reopen/", {"version": "1", "reason": "done"}, follow=True)
    assert "The form changed since you opened it (now version 2)" in stale.content.decode()
    assert FormInstance.objects.get(form="lesions").status == "not_done"

    reopened = client.post(
        LESIONS + "reopen/", {"version": "2", "reason": "the scan was done on Monday"}
    )
    assert reopened.status_code == 302
    assert reopened["Location"] == LESIONS
    instance = FormInstance.objects.get(form="lesions")
    assert (instance.status, instance.not_done_reason, instance.version) == ("in_progress", "", 3)
    assert stored("lesions")[("lesion_site", 1)] == "liver"
    assert AuditEvent.objects.filter(
        action="form.status_changed", reason="the scan was done on Monday"
    ).exists()
    page = client.get(LESIONS).content.decode()
    assert "The form is reopened." in page
    assert 'value="liver"' in page
    assert 'id="save"' in page
    assert 'id="f-reopen-reason"' not in page


def test_only_who_may_enter_data_is_offered_to_reopen_a_form(capture: Capture) -> None:
    form_mark_not_done(
        actor=capture.entry,
        subject=capture.subject,
        event="baseline",
        form="lesions",
        base_version=0,
        reason="scanner broken",
    )
    monitor = client_of(capture.monitor)
    html = monitor.get(LESIONS).content.decode()
    assert "scanner broken" in html
    assert 'id="f-reopen-reason"' not in html
    assert 'id="read-only"' in html
    assert monitor.post(LESIONS + "reopen/", {"version": "1", "reason": "x"}).status_code == 404
    assert FormInstance.objects.get(form="lesions").status == "not_done"
