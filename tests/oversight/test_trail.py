"""The audit trail an inspector browses (issue 19, item 6): data managers, administrators and
inspectors (a read-only role for a period) read one study's trail filtered by subject, form, item,
user, action and dates, page by page along the chain; blinded readers see arm-revealing values
masked; CSV and PDF exports; `carnet audit verify --data` rebuilds every value from the trail
and names a value edited in SQL."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from carnet.accounts.permissions import PermissionDenied
from carnet.accounts.roles import Role
from carnet.accounts.services import role_grant
from carnet.capture.models import ItemValue
from carnet.core.clock import utc_today
from carnet.oversight.replay import data_replay
from carnet.oversight.trail import TrailFilters, trail_page
from carnet.studies.definition.model import Item
from tests.accounts.factories import UserFactory
from tests.accounts.personas import ADMIN, person, with_second_factor
from tests.oversight.conftest import Oversight

pytestmark = pytest.mark.django_db

TRAIL = "/studies/MINI/audit/"


def test_the_trail_is_filtered_by_subject_form_item_user_and_action(
    oversight: Oversight,
) -> None:
    o = oversight
    o.save(values={"weight": 70, "height": 170})
    o.save(values={"weight": 72}, reason="scale recalibrated")
    o.save(form="lesions", rows={"target": {1: {"lesion_site": "liver", "diameter": 20}}})
    page = trail_page(
        o.inspector, study=o.study, filters=TrailFilters(subject="01-001", item="weight")
    )
    assert [(r.action, r.old, r.new, r.why) for r in page.rows] == [
        ("item.changed", "70", "72", "scale recalibrated"),
        ("item.changed", "", "70", ""),
    ]
    assert page.rows[0].what == "01-001 baseline#1 vitals weight"
    assert page.rows[0].who == "julie (Julie)"
    lesions = trail_page(o.manager, study=o.study, filters=TrailFilters(form="lesions"))
    assert {r.what.split()[2] for r in lesions.rows} == {"lesions"}
    nobody = trail_page(o.manager, study=o.study, filters=TrailFilters(user="nobody"))
    assert nobody.rows == []
    starts = trail_page(o.manager, study=o.study, filters=TrailFilters(action="subject."))
    assert starts.rows
    assert all(r.action.startswith("subject.") for r in starts.rows)
    tomorrow = utc_today() + timedelta(days=1)
    assert trail_page(o.manager, study=o.study, filters=TrailFilters(since=tomorrow)).rows == []


def test_pages_follow_the_chain_by_keyset(oversight: Oversight) -> None:
    o = oversight
    for number in range(5):
        o.save(values={"weight": 60 + number})
    filters = TrailFilters(item="weight")
    first = trail_page(o.manager, study=o.study, filters=filters, per_page=2)
    assert [r.new for r in first.rows] == ["64", "63"]
    second = trail_page(
        o.manager, study=o.study, filters=filters, per_page=2, before=first.next_before
    )
    assert [r.new for r in second.rows] == ["62", "61"]
    last = trail_page(
        o.manager, study=o.study, filters=filters, per_page=2, before=second.next_before
    )
    assert [r.new for r in last.rows] == ["60"]
    assert last.next_before is None


def test_who_may_read_the_trail(oversight: Oversight) -> None:
    o = oversight
    for user in (o.entry, o.investigator, o.monitor, o.statistician):
        with pytest.raises(PermissionDenied):
            trail_page(user, study=o.study, filters=TrailFilters())
        assert o.client(user).get(TRAIL).status_code == 404
    for user in (o.manager, o.inspector):
        assert o.client(user).get(TRAIL).status_code == 200
    # An inspection's period has ended: the inspector reads nothing any more.
    former = person("fred", study=o.study, role=Role.INSPECTOR, expired=True)
    assert o.client(former).get(TRAIL).status_code == 404
    later = person("lea", study=None)
    role_grant(
        actor=ADMIN,
        user=later,
        study=o.study,
        site=None,
        role=Role.INSPECTOR,
        starts_on=utc_today() + timedelta(days=7),
        ends_on=utc_today() + timedelta(days=14),
    )
    assert o.client(later).get(TRAIL).status_code == 404


def test_blinded_readers_see_arm_revealing_values_masked(
    oversight: Oversight, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Systolic pressure stands in for an arm-revealing item (a dose, a drug-specific lab).
    monkeypatch.setattr(Item, "arm_revealing", property(lambda item: item.name == "sbp"))
    o = oversight
    role_grant(
        actor=ADMIN,
        user=o.unblinded,
        study=o.study,
        site=None,
        role=Role.INSPECTOR,
        starts_on=utc_today(),
    )
    o.save(values={"sbp": 120, "weight": 70})
    inspector = trail_page(o.inspector, study=o.study, filters=TrailFilters(item="sbp"))
    assert [r.new for r in inspector.rows] == ["(blinded)"]
    unblinded = trail_page(o.unblinded, study=o.study, filters=TrailFilters(item="sbp"))
    assert [r.new for r in unblinded.rows] == ["120"]
    csv_text = b"".join(o.client(o.inspector).get(TRAIL[:-1] + ".csv?item=sbp").streaming_content)
    assert b"(blinded)" in csv_text
    # No cell but the time (whose microseconds may hold "120") shows the value.
    cells = [
        text
        for row in csv.DictReader(io.StringIO(csv_text.decode()))
        for column, text in row.items()
        if column != "when_utc"
    ]
    assert cells
    assert not any("120" in text for text in cells)
    page = o.client(o.inspector).get(TRAIL + "?subject=01-001").content.decode()
    assert "(blinded)" in page
    assert ">120<" not in page


def test_the_csv_export_streams_the_filtered_trail_oldest_first(oversight: Oversight) -> None:
    o = oversight
    o.save(values={"weight": 70})
    o.save(values={"weight": 72}, reason="=cmd()")
    answer = o.client(o.inspector).get(TRAIL[:-1] + ".csv?subject=01-001&item=weight")
    assert answer.streaming
    lines = b"".join(answer.streaming_content).decode().splitlines()
    assert lines[0] == "seq,when_utc,who,action,what,old,new,why"
    assert [line.split(",")[5:] for line in lines[1:]] == [["", "70", ""], ["70", "72", "'=cmd()"]]
    assert lines[1].split(",")[1].endswith("Z")


def test_the_administration_trail_is_a_page(oversight: Oversight) -> None:
    o = oversight
    root = with_second_factor(UserFactory.create(username="root", is_administrator=True))
    system = o.client(root).get("/administration/audit/").content.decode()
    assert "The system&#x27;s trail" in system or "The system's trail" in system
    manager = o.client(o.manager).get("/administration/audit/").content.decode()
    assert "/studies/MINI/audit/" in manager
    assert o.client(o.entry).get("/administration/audit/").status_code == 404


def test_audit_verify_data_finds_a_value_edited_in_sql(oversight: Oversight) -> None:
    o = oversight
    o.save(values={"weight": 70, "height": 170})
    o.save(form="lesions", rows={"target": {1: {"lesion_site": "liver", "diameter": 20}}})
    assert data_replay("MINI") == []
    out = io.StringIO()
    call_command("audit", "verify", "--study", "MINI", "--data", "MINI", stdout=out)
    assert "Every value of MINI is the one its audit trail records." in out.getvalue()
    value = ItemValue.objects.get(item="weight")
    with connection.cursor() as cursor:
        table = ItemValue._meta.db_table
        # The table name is the model's own: only the values are parameters.
        cursor.execute(f"UPDATE {table} SET text = %s WHERE id = %s", ["99", value.pk])  # noqa: S608
    differences = data_replay("MINI")
    assert len(differences) == 1
    assert differences[0].startswith("01-001 baseline#1 vitals weight: the table's value differs")
    with pytest.raises(CommandError, match="1 values of MINI differ"):
        call_command("audit", "verify", "--data", "MINI", stdout=io.StringIO())


def test_the_trail_command_writes_a_csv(oversight: Oversight, tmp_path) -> None:  # type: ignore[no-untyped-def]
    o = oversight
    o.save(values={"weight": 70})
    output = tmp_path / "trail.csv"
    out = io.StringIO()
    call_command("audit", "trail", "MINI", "--item", "weight", "--output", str(output), stdout=out)
    assert "1 audit events written" in out.getvalue()
    assert output.read_text(encoding="utf-8").splitlines()[1].split(",")[6] == "70"


def test_the_pdf_export_and_the_api_page(oversight: Oversight) -> None:
    from django.test import Client

    from carnet.accounts.services import token_create

    o = oversight
    o.save(values={"weight": 70})
    o.save(values={"weight": 71})
    pdf = o.client(o.inspector).get(TRAIL[:-1] + ".pdf?item=weight")
    assert pdf.status_code == 200
    assert pdf["Content-Type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    _token, key = token_create(actor=ADMIN, user=o.inspector, study=o.study)
    api = Client(headers={"authorization": f"Bearer {key}"})
    first = api.get("/api/studies/MINI/audit-trail?item=weight&per_page=1").json()
    assert [e["new"] for e in first["items"]] == ["71"]
    older = api.get(
        f"/api/studies/MINI/audit-trail?item=weight&per_page=1&before={first['next_before']}"
    ).json()
    assert [e["new"] for e in older["items"]] == ["70"]
    assert older["next_before"] is None
    refused = api.get("/api/studies/MINI/audit-trail?since=yesterday")
    assert refused.status_code == 400
