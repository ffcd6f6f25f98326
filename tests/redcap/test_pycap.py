"""PyCap, the REDCap client from PyPI, run unchanged against a live Carnet.

Every call below is a `redcap.Project` method as a REDCap user's script calls it; only the URL
and the token are Carnet's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from carnet.capture.models import ItemValue
from carnet.oversight.trail import TrailFilters, trail_rows
from redcap import Project, RedcapError
from tests.redcap.conftest import INITIALS, KIT, redcap_world

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def project(live_server: Any, key: str) -> Project:
    return Project(f"{live_server.url}/redcap/api/", key)


def test_pycap_reads_and_writes_a_carnet_study_unchanged(live_server: Any, tmp_path: Path) -> None:
    world = redcap_world(tmp_path)
    entry = project(live_server, world.keys["entry"])

    assert str(entry.export_version()) == "14.5.0"
    info = entry.export_project_info()
    assert info["project_title"] == "Mini study"
    assert info["is_longitudinal"] == 1
    assert entry.is_longitudinal
    assert entry.def_field == "record_id"

    metadata = entry.export_metadata()
    names = [row["field_name"] for row in metadata]
    assert names[0] == "record_id"
    assert {"weight", "symptoms", "diameter"} <= set(names)
    assert "kit_number" not in names
    assert "initials" not in names
    weight = next(row for row in metadata if row["field_name"] == "weight")
    assert weight["text_validation_type_or_show_slider_number"] == "number"
    assert (weight["text_validation_min"], weight["text_validation_max"]) == ("20", "250")
    packs = next(row for row in metadata if row["field_name"] == "packs")
    assert packs["branching_logic"] == "[smoker] = 1"
    symptoms = next(row for row in metadata if row["field_name"] == "symptoms")
    assert symptoms["field_type"] == "checkbox"
    assert symptoms["select_choices_or_calculations"] == "1, Cough | 2, Fever | 3, Fatigue"
    assert entry.export_metadata(format_type="df").loc["bmi", "field_type"] == "calc"

    field_names = entry.export_field_names()
    assert {
        "original_field_name": "symptoms",
        "choice_value": "2",
        "export_field_name": "symptoms___2",
    } in field_names
    assert entry.export_arms() == [{"arm_num": 1, "name": "Arm 1"}]
    events = entry.export_events()
    assert [e["unique_event_name"] for e in events] == [
        "baseline_arm_1",
        "cycle_arm_1",
        "adverse_events_arm_1",
    ]
    mappings = entry.export_instrument_event_mappings()
    assert {"arm_num": 1, "unique_event_name": "cycle_arm_1", "form": "vitals"} in mappings
    repeating = entry.export_repeating_instruments_events()
    assert {
        "event_name": "baseline_arm_1",
        "form_name": "target",
        "custom_form_label": "",
    } in repeating
    assert {i["instrument_name"] for i in entry.export_instruments()} >= {"vitals", "target"}

    records = entry.export_records()
    assert {row["record_id"] for row in records} == {"01-001"}  # not site 02's subject
    baseline = next(r for r in records if r["redcap_repeat_instrument"] == "")
    assert baseline["weight"] == "70.5"
    assert baseline["symptoms___3"] == "1"
    lesions = [r for r in records if r["redcap_repeat_instrument"] == "target"]
    assert [(r["redcap_repeat_instance"], r["diameter"]) for r in lesions] == [(1, "25"), (2, "40")]

    frame = entry.export_records(format_type="df")
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.index.names) == ["record_id", "redcap_event_name"]
    assert frame.loc[("01-001", "baseline_arm_1")].iloc[0]["weight"] == 70.5

    labelled = entry.export_records(raw_or_label="label", export_checkbox_labels=True)
    first = next(r for r in labelled if r["redcap_repeat_instrument"] == "")
    assert (first["smoker"], first["symptoms___1"], first["symptoms___2"]) == ("Yes", "Cough", "")

    eav = entry.export_records(record_type="eav")
    assert {
        "record": "01-001",
        "redcap_event_name": "baseline_arm_1",
        "redcap_repeat_instrument": "",
        "redcap_repeat_instance": "",
        "field_name": "symptoms",
        "value": "3",
    } in eav
    eav_frame = entry.export_records(format_type="df", record_type="eav")
    assert set(eav_frame["field_name"]) >= {"weight", "diameter"}

    picked = entry.export_records(
        fields=["weight"], events=["baseline_arm_1"], filter_logic="[weight] > 70"
    )
    assert [(r["record_id"], r.get("weight")) for r in picked] == [("01-001", "70.5")]
    assert entry.export_records(filter_logic="[weight] > 100") == []

    # Writing: REDCap's rows back, changed, through the bulk path with the save's checks.
    changed = dict(baseline, weight="72", sbp="130", dbp="80")
    assert entry.import_records([changed]) == {"count": 1}
    assert entry.import_records([dict(changed, height="175")], return_content="ids") == ["01-001"]
    value = ItemValue.objects.get(
        form_instance__subject=world.subject, form_instance__form="vitals", item="weight"
    )
    assert value.text == "72"
    trail = list(trail_rows(None, study=world.world.study, filters=TrailFilters(item="weight")))
    assert trail[-1].why == "REDCap API import by julie"
    with pytest.raises(RedcapError, match="records do not exist"):
        entry.import_records([dict(changed, record_id="99-999")])
    with pytest.raises(RedcapError, match="70"):  # the study's own hard check: BMI < 70
        entry.import_records([dict(changed, weight="249", height="100")])
    assert ItemValue.objects.get(pk=value.pk).text == "72"  # all or nothing

    log = project(live_server, world.keys["manager"]).export_logging()
    assert {"timestamp", "username", "action", "details", "record"} <= set(log[-1])
    assert any(row["username"] == "julie" for row in log)
    with pytest.raises(RedcapError, match="audit trail"):
        entry.export_logging()


def test_sites_blinding_and_tokens_hold_through_pycap(live_server: Any, tmp_path: Path) -> None:
    world = redcap_world(tmp_path)
    site_b = project(live_server, world.keys["entry_b"]).export_records()
    assert {row["record_id"] for row in site_b} == {"02-001"}

    blinded = project(live_server, world.keys["statistician"])
    blinded_rows = blinded.export_records()
    assert {row["record_id"] for row in blinded_rows} == {"01-001", "02-001"}
    assert all("kit_number" not in row for row in blinded_rows)
    assert KIT not in str(blinded_rows)
    assert INITIALS not in str(blinded_rows)
    assert [a["name"] for a in blinded.export_arms()] == ["Arm 1"]  # no treatment arm

    unblinded = project(live_server, world.keys["unblinded"]).export_records(fields=["kit_number"])
    assert KIT in [row.get("kit_number") for row in unblinded]
    assert INITIALS not in str(unblinded)  # identifying items never leave

    wrong = project(live_server, "0123456789ABCDEF0123456789ABCDEF")
    with pytest.raises(RedcapError, match="You do not have permissions to use the API"):
        wrong.export_records()
    with pytest.raises(RedcapError, match="You do not have permissions to use the API"):
        wrong.export_metadata()
