"""The API's front door: OpenAPI, documentation without CDN, problem details, sessions."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from carnet.accounts.roles import Role
from tests.accounts.personas import person, world

pytestmark = pytest.mark.django_db


def test_the_openapi_schema_and_docs_are_served_without_a_cdn(client: Client) -> None:
    schema = client.get("/api/openapi.json")
    assert schema.status_code == 200
    assert schema.json()["info"]["title"] == "Carnet API"
    docs = client.get("/api/docs")
    assert docs.status_code == 200
    # Nothing fetched from another host (a page's random CSRF token once held "cdn": the test
    # looked for the word anywhere, and failed by chance on PostgreSQL's CI run).
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", docs.text, re.IGNORECASE)
    assert "cdn." not in docs.text.lower()
    assert "/static/ninja/swagger-ui-bundle.js" in docs.text


def test_an_anonymous_request_gets_a_problem_401(client: Client) -> None:
    response = client.get("/api/me")
    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == 401
    assert body["instance"] == "/api/me"


def test_a_malformed_token_is_a_401_without_detail(client: Client) -> None:
    response = client.get("/api/me", headers={"authorization": "Bearer not-a-token"})
    assert response.status_code == 401


def test_the_session_works_for_the_browser(client: Client) -> None:
    w = world()
    user = person("maya", study=w.study, role=Role.INVESTIGATOR, sites=[w.site_a])
    client.force_login(user)
    me = client.get("/api/me").json()
    assert me["username"] == "maya"
    assert me["memberships"] == [
        {
            "study": "MINI",
            "site": "01",
            "role": "investigator",
            "starts_on": me["memberships"][0]["starts_on"],
            "ends_on": None,
        }
    ]
    outline = client.get("/api/studies/MINI").json()
    assert [event["name"] for event in outline["events"]] == ["baseline", "cycle", "adverse_events"]
    assert outline["events"][1]["schedule"].startswith("day +14 from event baseline")
    assert outline["forms"][0]["items"][0]["name"] == "weight"


def test_no_two_different_answer_schemas_share_a_name_in_the_openapi_document() -> None:
    # Components are keyed by class name: a second class of the same name silently replaced the
    # first, so the study outline was documented as a form instance (found by the fuzzing run).
    from ninja import Schema

    from carnet.config.api import api

    api.get_openapi_schema()  # imports every router's schemas
    shapes: dict[str, list[dict[str, object]]] = {}
    pending = list(Schema.__subclasses__())
    while pending:
        schema = pending.pop()
        pending.extend(schema.__subclasses__())
        if schema.__module__.startswith("carnet."):
            shape = schema.model_json_schema()
            shape.pop("description", None)
            shapes.setdefault(schema.__name__, [])
            if shape not in shapes[schema.__name__]:
                shapes[schema.__name__].append(shape)
    clashes = sorted(name for name, variants in shapes.items() if len(variants) > 1)
    assert clashes == []
