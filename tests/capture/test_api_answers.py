"""What the capture API answers: a save answers with exactly what reading the form shows."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from carnet.accounts.services import token_create
from carnet.studies.definition.model import Item
from tests.accounts.personas import ADMIN
from tests.capture.conftest import Capture

pytestmark = pytest.mark.django_db

FORMS = "/api/studies/MINI/subjects/{subject}/forms/baseline/1/{form}"


def _client(capture: Capture, user: Any) -> Client:
    _token, key = token_create(actor=ADMIN, user=user, study=capture.world.study)
    return Client(headers={"authorization": f"Bearer {key}"})


def test_a_save_answers_what_a_read_then_shows_masked_for_the_blinded(
    capture: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Systolic pressure stands in for an arm-revealing item (a dose, a drug-specific lab).
    monkeypatch.setattr(Item, "arm_revealing", property(lambda item: item.name == "sbp"))
    client = _client(capture, capture.entry)
    vitals = FORMS.format(subject=capture.subject.identifier, form="vitals")
    saved = client.put(
        vitals,
        {"version": 0, "values": {"weight": "70,5", "height": 170, "sbp": 90, "dbp": 95}},
        content_type="application/json",
    )
    assert saved.status_code == 200, saved.content
    answer = saved.json()
    assert answer["values"]["sbp"]["text"] == "(blinded)"
    assert answer["values"]["weight"]["text"] == "70.5"
    assert answer["values"]["bmi"]["text"] == "24.394464"
    assert [c["check"] for c in answer["checks"]] == ["bp_order"]
    assert (answer["status"], answer["version"]) == ("in_progress", 1)
    assert client.get(vitals).json() == answer

    # A second save: the check no longer fires and closes; a cleared value shows empty.
    saved = client.put(
        vitals,
        {"version": 1, "values": {"dbp": 60, "height": None}},
        content_type="application/json",
    )
    answer = saved.json()
    assert answer["checks"] == []
    assert answer["values"]["height"]["text"] == ""
    assert answer["values"]["bmi"]["text"] == ""
    assert client.get(vitals).json() == answer

    lesions = FORMS.format(subject=capture.subject.identifier, form="lesions")
    rows = {"target": {"1": {"lesion_site": "liver", "diameter": 20}, "2": {"diameter": 15}}}
    answer = client.put(
        lesions, {"version": 0, "rows": rows}, content_type="application/json"
    ).json()
    answer = client.put(
        lesions, {"version": 1, "rows": {"target": {"1": None}}}, content_type="application/json"
    ).json()
    assert list(answer["rows"]["target"]) == ["2"]
    assert answer["rows"]["target"]["2"]["diameter"]["text"] == "15"
    assert answer["values"]["sum_diameters"]["text"] == "15"
    assert client.get(lesions).json() == answer


def test_a_new_form_saved_through_the_api_reads_the_roles_once_and_nothing_it_cannot_need(
    capture: Capture,
) -> None:
    # Roles: the token's second-factor question reads every membership in force; the
    # permission checks of the request use that read. A form the save creates has no
    # verification and no query to read; nothing fires on it here.
    client = _client(capture, capture.entry)
    vitals = FORMS.format(subject=capture.subject.identifier, form="vitals")
    with CaptureQueriesContext(connection) as seen:
        saved = client.put(
            vitals,
            {"version": 0, "values": {"weight": 70, "height": 170}},
            content_type="application/json",
        )
    assert saved.status_code == 200, saved.content
    assert saved.json()["checks"] == []
    statements = [query["sql"] for query in seen.captured_queries]
    assert sum('FROM "accounts_membership"' in sql for sql in statements) == 1
    assert not [
        sql
        for sql in statements
        if '"monitoring_sourceverification"' in sql or '"quality_query"' in sql
    ]


def test_the_casebook_lists_every_instance_of_a_repeating_form(repeating: Capture) -> None:
    client = _client(repeating, repeating.entry)
    identifier = repeating.subject.identifier
    medication = FORMS.format(subject=identifier, form="medication")
    for repeat, name in ((1, "paracetamol"), (2, "ondansetron")):
        saved = client.put(
            f"{medication}?repeat={repeat}",
            {"version": 0, "values": {"cm_name": name}},
            content_type="application/json",
        )
        assert saved.status_code == 200, saved.content
        assert (saved.json()["repeat"], saved.json()["values"]["cm_name"]["text"]) == (
            repeat,
            name,
        )
    book = client.get(f"/api/studies/MINI/subjects/{identifier}/casebook").json()
    cell = next(
        c
        for column in book
        if column["event"] == "baseline"
        for c in column["forms"]
        if c["form"] == "medication"
    )
    assert [(i["repeat"], i["status"], i["version"]) for i in cell["instances"]] == [
        (1, "in_progress", 1),
        (2, "in_progress", 1),
    ]
    vitals = next(
        c
        for column in book
        if column["event"] == "baseline"
        for c in column["forms"]
        if c["form"] == "vitals"
    )
    assert vitals["instances"] == []  # never saved
    refused = client.put(
        f"{FORMS.format(subject=identifier, form='vitals')}?repeat=2",
        {"version": 0, "values": {"weight": 70}},
        content_type="application/json",
    )
    assert refused.status_code == 400
    assert "not a repeating form" in refused.json()["detail"]


def _shape(value: Any) -> Any:
    """Return the keys of nested objects, the first element of lists, and the type of the rest."""
    if isinstance(value, dict):
        return {key: _shape(element) for key, element in value.items()}
    if isinstance(value, list):
        return [_shape(value[0])] if value else []
    return type(value).__name__


def test_the_openapi_examples_have_the_shape_of_real_answers(capture: Capture) -> None:
    from carnet.capture.api import CasebookColumnOut, FormIn, FormOut, HistoryOut, ReasonIn
    from carnet.config.api import api

    def example(schema: Any) -> dict[str, Any]:
        found: dict[str, Any] = schema.model_config["json_schema_extra"]["examples"][0]
        schema.model_validate(found)  # what the document promises, the API accepts or answers
        return found

    published = api.get_openapi_schema()["components"]["schemas"]
    for schema in (FormIn, FormOut, ReasonIn, HistoryOut, CasebookColumnOut):
        assert published[schema.__name__]["examples"] == [example(schema)], schema.__name__

    client = _client(capture, capture.entry)
    subject = capture.subject.identifier
    vitals = FORMS.format(subject=subject, form="vitals")
    values = {"weight": "72,5", "height": 175}
    answer = client.put(vitals, {"version": 0, "values": values}, content_type="application/json")
    lesions = FORMS.format(subject=subject, form="lesions")
    rows = {"target": {"1": {"lesion_site": "liver", "diameter": 23}}}
    client.put(lesions, {"version": 0, "rows": rows}, content_type="application/json")
    with_rows = client.get(lesions).json()
    check = {"check": "c", "message_en": "e", "message_fr": "f", "items": ["weight"]}
    real = {**answer.json(), "rows": with_rows["rows"], "checks": [check]}
    promised = example(FormOut)
    assert _shape(promised) == {
        **_shape(real),
        "values": {name: _shape(real["values"]["weight"]) for name in promised["values"]},
        "rows": {
            "target": {"1": {n: _shape(real["values"]["weight"]) for n in rows["target"]["1"]}}
        },
    }
    history = client.get(f"{vitals}/history", {"item": "weight"}).json()
    assert _shape(history[0]) == _shape(example(HistoryOut))
    column = client.get(f"/api/studies/MINI/subjects/{subject}/casebook").json()[0]
    assert set(column) == set(example(CasebookColumnOut))
    assert set(column["forms"][0]) == set(example(CasebookColumnOut)["forms"][0])
