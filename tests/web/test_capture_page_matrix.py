"""Every capture page × every role × own site / other site / expired / no membership, plus
anonymous visitors and a system administrator. Fails on any 2xx the rules do not allow, on any
refusal they do not expect, and when a pattern of `carnet.capture.urls` is missing below. Then
the browser-enforced security of the same pages: no inline script or style, CSRF on every form.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.urls import URLPattern

from carnet.accounts.roles import GRANTS, Action, Role
from carnet.capture import urls as capture_urls
from carnet.capture.models import FormInstance
from carnet.capture.rules import study_rules
from carnet.capture.services import file_store, form_save
from carnet.studies.services import study_mode_change
from carnet.subjects.models import Subject
from tests.accounts.personas import ADMIN, World, person
from tests.web.helpers import administrator_client, sign_in
from tests.web.test_page_matrix import SITUATIONS, sees_site_a, signed_in, world_with_a_subject
from tests.web.test_security_headers import check_page

pytestmark = pytest.mark.django_db

Rule = Callable[[str, str], bool]
SUBJECT = "/studies/MINI/subjects/01-001/"
LESIONS = SUBJECT + "forms/baseline/1/lesions/"
VITALS = SUBJECT + "forms/baseline/1/vitals/"
PATTERN_SUBJECT = "studies/<str:identifier>/subjects/<str:subject>/"
PATTERN_FORM = PATTERN_SUBJECT + "forms/<str:event>/<int:occurrence>/<str:form>/"
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


def nobody(role: str, situation: str) -> bool:
    return False


def enters_at_site_a(role: str, situation: str) -> bool:
    """Subject 01-001 is at site A: its own site's staff who may enter data."""
    return situation == "own site" and Action.ENTER_DATA in GRANTS[role]


# What a POST sends: a page that changes nothing (a save of the stored values, a not-done
# or a reopening without its reason, an upload without a file), so that an allowed person
# changes no data.
UNCHANGED_VITALS = {"version": "1", "v-weight": "70"}
# Pattern -> (page, who may GET it with a 2xx, POST data, who may POST it without a refusal).
PAGES: dict[str, tuple[str, Rule, dict[str, str] | None, Rule]] = {
    PATTERN_SUBJECT + "casebook/": (SUBJECT + "casebook/", sees_site_a, None, nobody),
    PATTERN_FORM: (VITALS, sees_site_a, UNCHANGED_VITALS, enters_at_site_a),
    PATTERN_FORM + "validate/": (VITALS + "validate/", nobody, UNCHANGED_VITALS, enters_at_site_a),
    PATTERN_FORM + "rows/<str:group>/new/": (
        LESIONS + "rows/target/new/",
        enters_at_site_a,
        None,
        nobody,
    ),
    PATTERN_FORM + "history/<str:item>/": (
        LESIONS + "history/diameter/?row=1",
        sees_site_a,
        None,
        nobody,
    ),
    PATTERN_FORM + "not-done/": (
        LESIONS + "not-done/",
        nobody,
        {"version": "2", "not_done_reason": ""},
        enters_at_site_a,
    ),
    PATTERN_FORM + "reopen/": (
        LESIONS + "reopen/",
        nobody,
        {"version": "2", "reason": ""},
        enters_at_site_a,
    ),
    # The import page: whoever enters or manages data at some site (the other site's staff
    # too: the records of sites one may not enter are refused one by one); the POST without a
    # file is refused (400).
    "studies/<str:identifier>/imports/": (
        "/studies/MINI/imports/",
        lambda role, situation: (
            situation in {"own site", "other site"}
            and bool({Action.ENTER_DATA, Action.MANAGE_DATA} & GRANTS[role])
        ),
        {"reason": "matrix"},
        nobody,
    ),
    # An import run answers only the person who asked for it (none of these people: 404 for
    # everyone; tests/capture/test_bulk_csv.py checks its owner follows it and others do not).
    "studies/<str:identifier>/imports/<int:run_id>/progress/": (
        "/studies/MINI/imports/999999/progress/",
        nobody,
        None,
        nobody,
    ),
    PATTERN_FORM + "files/<str:item>/": (
        LESIONS + "files/scan_pdf/",
        sees_site_a,
        {"version": "2"},
        enters_at_site_a,
    ),
}


def test_the_table_describes_every_capture_page() -> None:
    patterns = {str(p.pattern) for p in capture_urls.urlpatterns if isinstance(p, URLPattern)}
    assert patterns == set(PAGES)


def capture_world(data_dir: Path, settings: Any) -> World:
    """Return the matrix's world in production, with vital signs and a lesion document saved."""
    settings.DATA_DIR = data_dir
    w = world_with_a_subject()
    study_mode_change(actor=ADMIN, study=w.study, mode="production")
    w.study.refresh_from_db()
    subject = Subject.objects.get(study=w.study, identifier="01-001")
    entry = person("entry-a", study=w.study, role=Role.DATA_ENTRY, sites=[w.site_a])
    assert w.study.current_version is not None
    scan = study_rules(w.study.current_version).forms["lesions"].items["scan_pdf"]
    document = file_store(actor=entry, subject=subject, item=scan, name="scan.pdf", content=PDF)
    form_save(
        actor=entry,
        subject=subject,
        event="baseline",
        form="lesions",
        base_version=0,
        rows={"target": {1: {"lesion_site": "liver", "diameter": 20}}},
    )
    form_save(
        actor=entry,
        subject=subject,
        event="baseline",
        form="lesions",
        base_version=1,
        values={"scan_pdf": document.sha256},
    )
    form_save(
        actor=entry,
        subject=subject,
        event="baseline",
        form="vitals",
        base_version=0,
        values={"weight": 70},
    )
    return w


def test_no_capture_page_shows_or_takes_what_it_should_not(tmp_path: Path, settings: Any) -> None:
    w = capture_world(tmp_path, settings)
    failures: list[str] = []
    anonymous = Client()
    for _pattern, (page, _get, data, _post) in PAGES.items():
        if 200 <= anonymous.get(page).status_code < 300:
            failures.append(f"anonymous GET {page}")
        if data is not None:
            response = anonymous.post(page, data)
            if response.status_code != 302 or not response["Location"].startswith("/login/"):
                failures.append(f"anonymous POST {page}: {response.status_code}")
    n = 0
    for role in Role.values:
        for situation in SITUATIONS:
            n += 1
            client = signed_in(w, role, situation, n)
            for _pattern, (page, get_rule, data, post_rule) in PAGES.items():
                status = client.get(page).status_code
                if (200 <= status < 300) != get_rule(role, situation):
                    failures.append(f"{role} {situation} GET {page}: {status}")
                if data is None:
                    continue
                status = client.post(page, data).status_code
                if (status < 400) != post_rule(role, situation):
                    failures.append(f"{role} {situation} POST {page}: {status}")
    assert failures == []
    # Nothing above changed any data: the allowed posts were saves without a change.
    assert {(f.form, f.status, f.version) for f in FormInstance.objects.all()} == {
        ("lesions", "in_progress", 2),
        ("vitals", "in_progress", 1),
    }


def test_a_system_administrator_sees_no_capture_page(tmp_path: Path, settings: Any) -> None:
    capture_world(tmp_path, settings)
    client = administrator_client()
    for _pattern, (page, _get, data, _post) in PAGES.items():
        assert not 200 <= client.get(page).status_code < 300, page
        if data is not None:
            assert client.post(page, data).status_code >= 400, page


def site_a_client(w: World) -> Client:
    person("ines", study=w.study, role=Role.INVESTIGATOR, sites=[w.site_a])
    client = Client()
    sign_in(client, "ines")
    return client


PARTIALS = [LESIONS + "rows/target/new/", LESIONS + "history/diameter/?row=1"]


def test_capture_pages_have_a_strict_policy_and_no_inline_script_or_style(
    tmp_path: Path, settings: Any
) -> None:
    client = site_a_client(capture_world(tmp_path, settings))
    for page in (SUBJECT + "casebook/", VITALS, LESIONS, LESIONS + "history/diameter/?row=1"):
        check_page(client, page)
    # A form marked not done offers its reopening instead of the save.
    client.post(VITALS + "not-done/", {"version": "1", "not_done_reason": "patient unwell"})
    assert 'id="f-reopen-reason"' in client.get(VITALS).content.decode()
    check_page(client, VITALS)
    fragments = [client.get(page, HTTP_HX_REQUEST="true") for page in PARTIALS]
    fragments.append(client.post(VITALS + "validate/", {"version": "1", "v-weight": "x"}))
    for response in fragments:
        assert response.status_code == 200
        html = response.content.decode()
        assert "<script" not in html
        assert " style=" not in html
        assert " onclick=" not in html.lower()


def test_every_capture_form_that_posts_carries_a_csrf_token(tmp_path: Path, settings: Any) -> None:
    client = site_a_client(capture_world(tmp_path, settings))
    for page in (VITALS, LESIONS):
        html = client.get(page).content.decode()
        forms = re.findall(r"<form[^>]*method=\"post\"[^>]*>(.*?)</form>", html, re.S)
        assert len(forms) >= 2, page  # the form itself, the language switch…
        for form in forms:
            assert "csrfmiddlewaretoken" in form, page
    # Marked not done, a form offers its reopening, which posts too.
    client.post(VITALS + "not-done/", {"version": "1", "not_done_reason": "patient unwell"})
    html = client.get(VITALS).content.decode()
    reopen = re.search(
        rf'<form method="post" action="{VITALS}reopen/"[^>]*>(.*?)</form>', html, re.S
    )
    assert reopen
    assert "csrfmiddlewaretoken" in reopen.group(1)


def test_a_save_without_the_csrf_token_is_refused(tmp_path: Path, settings: Any) -> None:
    w = capture_world(tmp_path, settings)
    ines = person("ines", study=w.study, role=Role.INVESTIGATOR, sites=[w.site_a])
    client = Client(enforce_csrf_checks=True)
    client.force_login(ines)
    assert client.post(VITALS, {"version": "1", "v-weight": "99"}).status_code == 403
    assert client.post(VITALS + "validate/", {"version": "1"}).status_code == 403
