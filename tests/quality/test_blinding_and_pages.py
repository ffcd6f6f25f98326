"""Where people see queries: the list, one query, the CSV export, the form's drawer and badges,
the casebook, the home page and the API; and a blinded person never reads an arm-revealing value
in any of them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from carnet.accounts.blinding import HIDDEN
from carnet.accounts.roles import Role
from carnet.accounts.services import token_create
from carnet.capture.services import form_save
from carnet.quality.models import Query
from carnet.quality.selectors import queries_list, query_rows
from carnet.quality.services import query_raise
from carnet.studies.definition import study_file_read
from carnet.studies.services import study_load, study_mode_change, study_publish
from tests.accounts.personas import ADMIN, FIXTURE, person, with_second_factor, world
from tests.capture.conftest import include

pytestmark = pytest.mark.django_db

KIT = "471147"
KIT_ITEM = (
    "          - {name: kit_number, type: text, flags: [arm_revealing],"
    " label: {en: Kit number, fr: Numéro de kit}}\n"
)


@pytest.fixture
def kit(tmp_path: Path) -> dict[str, Any]:
    text = FIXTURE.read_text(encoding="utf-8")
    anchor = "          - {name: vs_date, type: date,"
    amended = tmp_path / "mini.yaml"
    amended.write_text(text.replace(anchor, KIT_ITEM + anchor), encoding="utf-8")
    w = world()
    study_load(actor=ADMIN, study_file=study_file_read(amended), source_name="mini.yaml")
    study_publish(actor=ADMIN, study=w.study)
    study_mode_change(actor=ADMIN, study=w.study, mode="production")
    w.study.refresh_from_db()
    entry = person("julie", study=w.study, role=Role.DATA_ENTRY, sites=[w.site_a])
    subject = include(w, entry)
    saved = form_save(
        actor=entry,
        subject=subject,
        event="baseline",
        form="vitals",
        base_version=0,
        values={"weight": 70, "smoker": 1, "kit_number": KIT, "sbp": 80, "dbp": 90},
    )
    monitor = person("sophie", study=w.study, role=Role.MONITOR, sites=[w.site_a])
    query = query_raise(
        actor=monitor,
        subject=subject,
        form_instance=saved.form_instance,
        item="kit_number",
        text="Kit number <script>alert(1)</script> unreadable on the label?",
    )
    return {
        "world": w,
        "study": w.study,
        "subject": subject,
        "entry": entry,
        "monitor": monitor,
        "query": query,
        "unblinded": with_second_factor(
            person("ulysse", study=w.study, role=Role.UNBLINDED_STATISTICIAN)
        ),
    }


def test_the_blinded_never_read_the_kit_number_and_the_unblinded_do(kit: dict[str, Any]) -> None:
    study = kit["study"]
    for who, expected in (
        (kit["monitor"], HIDDEN),
        (kit["entry"], HIDDEN),
        (kit["unblinded"], KIT),
    ):
        rows = query_rows(
            actor=who, study=study, queries=queries_list(actor=who, study=study), language="en"
        )
        values = {row["item"]: row["value"] for row in rows}
        assert values["kit_number"] == expected


def test_no_page_export_or_api_answer_shows_the_blinded_the_kit_number(
    kit: dict[str, Any],
) -> None:
    study, query = kit["study"], kit["query"]
    client = Client()
    client.force_login(kit["monitor"])
    pages = [
        reverse("quality:queries", args=[study.identifier]) + "?state=",
        reverse("quality:export", args=[study.identifier]) + "?state=",
        reverse("quality:query", args=[study.identifier, query.pk]),
        reverse("quality:drawer", args=[study.identifier, "01-001", "baseline", 1, "vitals"]),
    ]
    for url in pages:
        response = client.get(url)
        assert response.status_code == 200, url
        body = b"".join(response.streaming_content) if response.streaming else response.content
        assert KIT.encode() not in body, url
        assert HIDDEN.encode() in body or url.endswith("/queries/"), url
        if response["Content-Type"].startswith("text/html"):
            # Query text is free text: shown escaped, never as markup.
            assert b"<script>alert(1)</script>" not in body
    _token, key = token_create(actor=ADMIN, user=kit["monitor"], study=study)
    headers = {"authorization": f"Bearer {key}"}
    listed = client.get(f"/api/studies/{study.identifier}/queries?state=", headers=headers)
    assert listed.status_code == 200
    assert KIT not in listed.content.decode()
    values = {row["item"]: row["value"] for row in listed.json()["results"]}
    assert values == {"kit_number": HIDDEN, "sbp": "80"}
    one = client.get(f"/api/studies/{study.identifier}/queries/{query.pk}", headers=headers)
    assert one.json()["value"] == HIDDEN


def test_the_csv_export_lists_the_filtered_queries(kit: dict[str, Any]) -> None:
    client = Client()
    client.force_login(kit["monitor"])
    study = kit["study"]
    response = client.get(reverse("quality:export", args=[study.identifier]) + "?kind=automatic")
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert lines[0].startswith("id,site,subject,event")
    assert len(lines) == 2
    assert ",automatic," in lines[1]
    assert "bp_order" not in lines[0]


def test_the_site_answers_in_the_drawer_and_sees_badges_and_its_home(kit: dict[str, Any]) -> None:
    study, query = kit["study"], kit["query"]
    client = Client()
    client.force_login(kit["entry"])
    form_url = reverse("capture:form", args=[study.identifier, "01-001", "baseline", 1, "vitals"])
    page = client.get(form_url).content.decode()
    assert 'class="query-mark"' in page
    assert "1 query" in page
    assert 'id="form-panel"' in page
    casebook = client.get(reverse("capture:casebook", args=[study.identifier, "01-001"]))
    assert "2 queries" in casebook.content.decode()  # the kit query and the automatic one
    home = client.get(reverse("web:home")).content.decode()
    assert "2 open queries wait for your site&#x27;s answer in MINI." in home
    drawer = reverse("quality:drawer", args=[study.identifier, "01-001", "baseline", 1, "vitals"])
    fragment = client.get(drawer, headers={"HX-Request": "true"}).content.decode()
    assert f'id="answer-{query.pk}"' in fragment
    assert "Raise a query" not in fragment
    answered = client.post(
        reverse("quality:action", args=[study.identifier, query.pk, "answer"]),
        {"text": "The label was re-read: correct"},
        headers={"HX-Request": "true"},
    )
    assert answered.status_code == 200
    assert "The label was re-read: correct" in answered.content.decode()
    assert Query.objects.get(pk=query.pk).state == "answered"
    # Without htmx: back to where the form was posted from.
    auto = Query.objects.get(kind="automatic")
    confirmed = client.post(
        reverse("quality:action", args=[study.identifier, auto.pk, "confirm"]),
        {"text": "Usual for this patient", "next": form_url},
    )
    assert confirmed.status_code == 302
    assert confirmed["Location"] == form_url


def test_a_monitor_raises_from_the_drawer_and_closes_from_the_query_page(
    kit: dict[str, Any],
) -> None:
    study = kit["study"]
    client = Client()
    client.force_login(kit["monitor"])
    drawer = reverse("quality:drawer", args=[study.identifier, "01-001", "baseline", 1, "vitals"])
    response = client.post(
        drawer,
        {"item": "weight", "row": "0", "text": "Weight 70 or 75?"},
        headers={"HX-Request": "1"},
    )
    assert response.status_code == 200
    assert "Weight 70 or 75?" in response.content.decode()
    created = Query.objects.get(item="weight")
    closed = client.post(reverse("quality:action", args=[study.identifier, created.pk, "close"]))
    assert closed.status_code == 302
    assert Query.objects.get(pk=created.pk).state == "closed"
    refused = client.post(drawer, {"item": "nothing", "text": "?"})
    assert refused.status_code == 400


def test_another_sites_monitor_finds_no_query_page(kit: dict[str, Any]) -> None:
    w, study, query = kit["world"], kit["study"], kit["query"]
    other = person("bruno", study=study, role=Role.MONITOR, sites=[w.site_b])
    client = Client()
    client.force_login(other)
    assert (
        client.get(reverse("quality:query", args=[study.identifier, query.pk])).status_code == 404
    )
    listed = client.get(reverse("quality:queries", args=[study.identifier]) + "?state=")
    assert listed.status_code == 200
    assert 'id="no-queries"' in listed.content.decode()
    answer = client.post(reverse("quality:action", args=[study.identifier, query.pk, "close"]))
    assert answer.status_code == 404


def test_the_command_line_lists_the_queries_with_arm_revealing_values_masked(
    kit: dict[str, Any],
) -> None:
    import io

    from django.core.management import call_command

    out = io.StringIO()
    call_command("queries", "list", "MINI", "--state", "all", stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("id,site,subject")
    assert len(lines) == 3  # the kit query and the automatic one
    assert KIT not in out.getvalue()
    assert HIDDEN in out.getvalue()
