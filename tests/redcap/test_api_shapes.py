"""The REDCap API's answers, read with Django's test client (PyCap's own run is in
test_pycap.py): shapes, rights, sites and blinding."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from tests.redcap.conftest import KIT, RedcapWorld

pytestmark = pytest.mark.django_db
URL = "/redcap/api/"


def call(key: str, **params: str) -> tuple[int, str]:
    response = Client().post(URL, {"token": key, "format": "json", **params})
    body = b"".join(response.streaming_content) if response.streaming else response.content
    return response.status_code, body.decode()


def test_records_flat_json(redcap: RedcapWorld) -> None:
    status, body = call(redcap.keys["entry"], content="record", type="flat")
    assert status == 200, body
    rows = json.loads(body)
    print(json.dumps(rows, indent=1))
    assert rows
