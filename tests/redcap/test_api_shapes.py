"""The REDCap API's answers as REDCap gives them, read with Django's test client (PyCap's own
run is in test_pycap.py): formats, error bodies, headers, parameters."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.test import Client

from carnet.accounts.services import role_revoke, token_create
from carnet.core.clock import utc_today
from tests.accounts.personas import ADMIN, person, with_second_factor
from tests.redcap.conftest import RedcapWorld

pytestmark = pytest.mark.django_db
URL = "/redcap/api/"
WRONG = "0123456789ABCDEF0123456789ABCDEF"


def call(key: str, **params: str) -> tuple[int, str, str]:
    response = Client().post(URL, {"token": key, **params})
    body = b"".join(response.streaming_content) if response.streaming else response.content
    return response.status_code, response["Content-Type"], body.decode()


def test_a_wrong_token_gets_redcaps_403_in_each_format(redcap: RedcapWorld) -> None:
    assert call(WRONG, content="record", format="json")[::2] == (
        403,
        '{"error": "You do not have permissions to use the API"}',
    )
    assert call(WRONG, content="record", format="csv")[2] == (
        "ERROR: You do not have permissions to use the API"
    )
    status, kind, body = call(WRONG, content="record", format="csv", returnFormat="xml")
    assert (status, kind) == (403, "text/xml; charset=utf-8")
    assert "<error>You do not have permissions to use the API</error>" in body
    assert call("not a token", content="version")[0] == 403


def test_a_token_whose_role_ended_gets_the_same_error(redcap: RedcapWorld) -> None:
    study = redcap.world.study
    kim = with_second_factor(person("kim", study=study, role="data_manager"))
    _token, key = token_create(actor=ADMIN, user=kim, study=study)
    assert call(key, content="metadata", format="json")[0] == 200
    role_revoke(
        actor=ADMIN,
        user=kim,
        study=study,
        site=None,
        role="data_manager",
        on=utc_today() - timedelta(days=1),
    )
    assert call(key, content="metadata", format="json")[::2] == (
        403,
        '{"error": "You do not have permissions to use the API"}',
    )


def test_records_as_csv_with_label_headers_and_as_xml(redcap: RedcapWorld) -> None:
    key = redcap.keys["entry"]
    status, kind, body = call(
        key,
        content="record",
        format="csv",
        type="flat",
        **{"fields[0]": "weight", "fields[1]": "symptoms"},
    )
    assert (status, kind) == (200, "text/csv; charset=utf-8")
    lines = body.splitlines()
    assert lines[0] == (
        "record_id,redcap_event_name,redcap_repeat_instrument,redcap_repeat_instance,"
        "weight,symptoms___1,symptoms___2,symptoms___3"
    )
    assert lines[1] == "01-001,baseline_arm_1,,,70.5,1,0,1"
    labels = call(
        key, content="record", format="csv", rawOrLabelHeaders="label", **{"fields[0]": "symptoms"}
    )[2].splitlines()[0]
    assert "Symptoms (choice=Fever)" in labels
    status, kind, body = call(key, content="record", format="xml", **{"records[0]": "01-001"})
    assert kind == "text/xml; charset=utf-8"
    assert body.startswith('<?xml version="1.0" encoding="UTF-8" ?>\n<records>')
    assert "<weight><![CDATA[70.5]]></weight>" in body


def test_unknown_parameters_are_refused_as_redcap_does(redcap: RedcapWorld) -> None:
    key = redcap.keys["entry"]
    status, _kind, body = call(key, content="record", format="json", **{"fields[0]": "nope"})
    assert status == 400
    assert json.loads(body) == {
        "error": 'The following values in the parameter "fields" are not valid: nope'
    }
    assert call(key, content="surveyLink", format="json")[0] == 400
    status, _kind, body = call(key, content="record", format="json", filterLogic="[nope] = 1")
    assert status == 400
    assert "filter logic" in body
    status, _kind, body = call(
        key, content="record", format="json", action="delete", **{"records[0]": "01-001"}
    )
    assert status == 400
    assert "never deleted" in body


def test_the_version_dags_and_users_are_read_only(redcap: RedcapWorld) -> None:
    key = redcap.keys["entry"]
    assert call(key, content="version")[2] == "14.5.0"
    dags = json.loads(call(key, content="dag", format="json")[2])
    assert [d["unique_group_name"] for d in dags] == ["site_01"]  # only the sites it covers
    users = json.loads(call(key, content="user", format="json")[2])
    assert "marc" not in {u["username"] for u in users}  # site B's data entry
    assert call(key, content="dag", format="json", data="[]")[0] == 400


def test_an_eav_import_and_overwrite_behaviour(redcap: RedcapWorld) -> None:
    key = redcap.keys["entry"]
    rows = [
        {
            "record": "01-001",
            "redcap_event_name": "baseline_arm_1",
            "field_name": "sbp",
            "value": "128",
        },
        {
            "record": "01-001",
            "redcap_event_name": "baseline_arm_1",
            "field_name": "symptoms",
            "value": "2",
        },
    ]
    status, _kind, body = call(
        key, content="record", format="json", type="eav", data=json.dumps(rows), returnContent="ids"
    )
    assert (status, json.loads(body)) == (200, ["01-001"]), body
    flat = json.loads(
        call(
            key,
            content="record",
            format="json",
            **{"fields[0]": "sbp", "fields[1]": "symptoms", "fields[2]": "height"},
        )[2]
    )
    assert (flat[0]["sbp"], flat[0]["symptoms___1"], flat[0]["symptoms___2"]) == ("128", "0", "1")
    # normal keeps what a blank cell would erase; overwrite erases it.
    blank = [{"record_id": "01-001", "redcap_event_name": "baseline_arm_1", "height": ""}]
    call(key, content="record", format="json", data=json.dumps(blank))
    assert _height(key) == "172"
    call(
        key, content="record", format="json", data=json.dumps(blank), overwriteBehavior="overwrite"
    )
    assert _height(key) == ""
    status, _kind, body = call(
        key, content="record", format="json", data=json.dumps(blank), forceAutoNumber="true"
    )
    assert status == 400
    assert "forceAutoNumber" in body


def _height(key: str) -> str:
    rows = json.loads(call(key, content="record", format="json", **{"fields[0]": "height"})[2])
    return rows[0]["height"]


def test_the_requests_redcapr_sends_get_what_redcapr_reads(redcap: RedcapWorld) -> None:
    """REDCapR (R, from CRAN: not installable here) posts these bodies: lists collapsed with
    commas, booleans as "false", an empty filter, CSV both ways (docs/redcap.md)."""
    key = redcap.keys["entry"]
    read_oneshot = {
        "content": "record",
        "format": "csv",
        "type": "flat",
        "rawOrLabel": "raw",
        "rawOrLabelHeaders": "raw",
        "exportCheckboxLabel": "false",
        "exportSurveyFields": "false",
        "exportDataAccessGroups": "false",
        "filterLogic": "",
        "records": "01-001",
        "fields": "record_id,weight,height",
    }
    status, kind, body = call(key, **read_oneshot)
    assert (status, kind) == (200, "text/csv; charset=utf-8")
    assert body.splitlines()[:2] == [
        "record_id,redcap_event_name,redcap_repeat_instrument,redcap_repeat_instance,weight,height",
        "01-001,baseline_arm_1,,,70.5,172",
    ]
    metadata = call(key, content="metadata", format="csv", returnFormat="json")[2]
    assert metadata.splitlines()[0].startswith("field_name,form_name,section_header,field_type")
    write_oneshot = {
        "content": "record",
        "format": "csv",
        "type": "flat",
        "data": "record_id,redcap_event_name,sbp\n01-001,baseline_arm_1,131\n",
        "overwriteBehavior": "normal",
        "returnContent": "ids",
        "returnFormat": "csv",
    }
    status, kind, body = call(key, **write_oneshot)
    assert (status, body) == (200, "id\n01-001\n")
    failed = call(key, **{**read_oneshot, "fields": "nope"})
    assert failed[0] == 400
    assert failed[2].startswith("ERROR: ")


def test_a_repeating_events_occurrences_are_its_instances(redcap: RedcapWorld) -> None:
    key = redcap.keys["entry"]
    rows = [
        {
            "record_id": "01-001",
            "redcap_event_name": "cycle_arm_1",
            "redcap_repeat_instrument": "",
            "redcap_repeat_instance": str(n),
            "weight": str(70 + n),
        }
        for n in (1, 2)
    ]
    status, _kind, body = call(key, content="record", format="json", data=json.dumps(rows))
    assert status == 200, body
    exported = json.loads(
        call(
            key,
            content="record",
            format="json",
            **{"fields[0]": "weight", "events[0]": "cycle_arm_1"},
        )[2]
    )
    assert [(r["redcap_repeat_instance"], r["weight"]) for r in exported] == [(1, "71"), (2, "72")]
