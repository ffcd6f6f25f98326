"""Oversized and odd requests get a clear, located refusal, and nothing is written.

A 10 MB body, a NUL character in a value, a reason or a news source, an anonymous write, a
negative version or one from the future: each gets its own answer on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from carnet.accounts.services import token_create
from carnet.audit.models import AuditEvent
from carnet.capture.models import FormInstance, ItemValue
from carnet.capture.services import form_save
from carnet.subjects.models import News
from tests.accounts.personas import ADMIN
from tests.capture.conftest import Capture, capture  # noqa: F401 (the fixture)

pytestmark = pytest.mark.django_db

TEN_MB = 10 * 1024 * 1024


def counts() -> dict[str, int]:
    return {
        "form instances": FormInstance.objects.count(),
        "item values": ItemValue.objects.count(),
        "news": News.objects.count(),
        "audit events": AuditEvent.objects.count(),
    }


@pytest.fixture
def api(capture: Capture) -> tuple[Client, dict[str, str], str]:  # noqa: F811 (the imported fixture)
    """Return a client, the data-entry person's token header and the subject's API path."""
    _token, key = token_create(actor=ADMIN, user=capture.entry, study=capture.world.study)
    subject = f"/api/studies/MINI/subjects/{capture.subject.identifier}"
    return Client(), {"authorization": f"Bearer {key}"}, subject


def put_form(api: tuple[Client, dict[str, str], str], body: Any, form: str = "vitals") -> Any:
    client, headers, subject = api
    return client.put(
        f"{subject}/forms/baseline/1/{form}",
        data=body if isinstance(body, str) else json.dumps(body),
        content_type="application/json",
        headers=headers,
    )


def problem_of(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.content[:500]
    assert response["Content-Type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body


def test_a_10_mb_json_body_gets_a_413_problem_and_writes_nothing(api: Any) -> None:
    before = counts()
    body = json.dumps({"version": 0, "values": {"weight": "72"}, "reason": "x" * TEN_MB})
    problem = problem_of(put_form(api, body), 413)
    assert problem["title"] == "Content Too Large"
    assert problem["detail"] == (
        f"The request body is {len(body)} bytes; at most {2621440} are accepted here. "
        "Nothing was written."
    )
    assert counts() == before


def test_a_10_mb_page_form_gets_the_too_large_page(capture: Capture) -> None:  # noqa: F811
    client = Client()
    client.force_login(capture.entry)
    before = counts()
    response = client.post(
        f"/studies/MINI/subjects/{capture.subject.identifier}/news/",
        data="news-source=" + "x" * TEN_MB + "&news-news_on=2026-01-10",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 413
    assert "<h1>Request too large</h1>" in response.content.decode()
    assert counts() == before


@pytest.mark.parametrize(
    ("form", "body", "location"),
    [
        ("vitals", {"version": 0, "values": {"weight": "7\u00002"}}, "body.values.weight"),
        ("vitals", {"version": 0, "values": {"weight": "72"}, "reason": "a\u0000"}, "body.reason"),
        (
            "lesions",
            {"version": 0, "rows": {"target": {"1": {"lesion_site": "liv\u0000er"}}}},
            "body.rows.target.1.lesion_site",
        ),
    ],
)
def test_a_nul_character_in_a_value_or_reason_is_a_located_400(
    api: Any, form: str, body: dict[str, Any], location: str
) -> None:
    before = counts()
    problem = problem_of(put_form(api, body, form), 400)
    assert problem["errors"] == [
        {
            "location": location,
            "message": "contains a NUL character (U+0000), which no text may hold.",
        }
    ]
    assert problem["detail"] == "The request was refused; nothing was written."
    assert counts() == before


def test_a_nul_character_in_a_news_source_is_a_located_400(api: Any) -> None:
    client, headers, subject = api
    before = counts()
    response = client.post(
        f"{subject}/news",
        data=json.dumps({"news_on": "2026-01-10", "source": "GP\u0000 letter"}),
        content_type="application/json",
        headers=headers,
    )
    problem = problem_of(response, 400)
    assert [error["location"] for error in problem["errors"]] == ["body.source"]
    assert counts() == before


def test_a_nul_character_in_a_page_form_shows_the_field(capture: Capture) -> None:  # noqa: F811
    client = Client()
    client.force_login(capture.entry)
    before = counts()
    response = client.post(
        f"/studies/MINI/subjects/{capture.subject.identifier}/news/",
        data="news-source=GP%00+letter&news-news_on=2026-01-10",
        content_type="application/x-www-form-urlencoded",  # as a browser sends a form
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert "<h1>Request not understood</h1>" in page
    assert "The field news-source contains a NUL character (U+0000)" in page
    assert counts() == before


def test_a_nul_character_in_the_address_is_a_located_400(api: Any) -> None:
    client, headers, subject = api
    response = client.get(f"{subject}%00/forms/baseline/1/vitals", headers=headers)
    problem = problem_of(response, 400)
    assert [error["location"] for error in problem["errors"]] == ["path"]
    response = client.get(f"{subject}?site=0%001", headers=headers)
    assert [error["location"] for error in problem_of(response, 400)["errors"]] == ["query.site"]


@pytest.mark.parametrize("headers", [{}, {"authorization": "Bearer " + "0" * 32}])
def test_an_anonymous_or_bad_token_write_gets_a_401(api: Any, headers: dict[str, str]) -> None:
    _client, _headers, subject = api
    client = Client(enforce_csrf_checks=True)
    before = counts()
    response = client.put(
        f"{subject}/forms/baseline/1/vitals",
        data=json.dumps({"version": 0, "values": {"weight": "72"}}),
        content_type="application/json",
        headers=headers,
    )
    problem = problem_of(response, 401)
    assert response["WWW-Authenticate"] == 'Bearer realm="carnet"'
    assert "CSRF" not in problem["detail"]
    assert counts() == before


def test_a_negative_version_is_a_422(api: Any) -> None:
    before = counts()
    problem = problem_of(put_form(api, {"version": -1, "values": {"weight": "72"}}), 422)
    assert [error["location"] for error in problem["errors"]] == ["body.payload.version"]
    assert counts() == before


def test_a_version_from_the_future_is_a_409_that_says_so(api: Any, capture: Capture) -> None:  # noqa: F811
    before = counts()
    problem = problem_of(put_form(api, {"version": 7, "values": {"weight": "72"}}), 409)
    assert problem["detail"] == (
        "You sent version 7 of this form, but it is only at version 0: send the version you "
        "read. Nothing was written."
    )
    assert problem["current_version"] == 0
    assert problem["changes"] == []
    assert counts() == before

    form_save(
        actor=capture.entry,
        subject=capture.subject,
        event="baseline",
        form="vitals",
        base_version=0,
        values={"weight": "72"},
    )
    problem = problem_of(put_form(api, {"version": 2, "values": {"weight": "73"}}), 409)
    assert problem["detail"].startswith("You sent version 2 of this form, but it is only at ")
    assert ItemValue.objects.get(item="weight").text == "72"
