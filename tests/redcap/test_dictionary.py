"""REDCap data dictionaries into study definitions and back, and the `carnet redcap` command."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from django.core.management import call_command

from carnet.redcap.dictionary import dictionary_csv, dictionary_import, dictionary_rows
from carnet.studies.definition import study_file_read
from carnet.studies.definition.loading import study_text_validate
from carnet.studies.definition.model import StudyDefinition
from carnet.studies.services import study_load
from tests.accounts.personas import ADMIN, FIXTURE
from tests.redcap.conftest import RedcapWorld

FIXTURES = Path(__file__).parent / "fixtures"
PROJECT = "breast_neoadj"


def _fixture(kind: str) -> str:
    return (FIXTURES / f"{PROJECT}_{kind}.csv").read_text(encoding="utf-8")


def _imported(**options: str) -> tuple[StudyDefinition, list[str], str]:
    made = dictionary_import(
        _fixture("dictionary"),
        identifier="NEOADJ-BC",
        title="Neoadjuvant breast cancer cohort",
        events=_fixture("events"),
        mapping=_fixture("mapping"),
        arms=_fixture("arms"),
        **options,
    )
    text = made.yaml()
    definition, findings = study_text_validate(text, name="neoadj.yaml")
    assert [f for f in findings if f.severity == "error"] == []
    assert definition is not None
    return definition, [str(entry) for entry in made.not_carried], text


def test_a_real_looking_dictionary_becomes_a_study_that_validates() -> None:
    definition, not_carried, _text = _imported()
    assert [f.name for f in definition.forms] == [
        "enrolment",
        "baseline_exam",
        "chemotherapy",
        "surgery",
    ]
    assert [(e.name, e.forms) for e in definition.events] == [
        ("enrolment", ("enrolment", "baseline_exam")),
        ("cycle_1", ("chemotherapy",)),
        ("cycle_2", ("chemotherapy",)),
        ("surgery", ("surgery",)),
    ]
    cycle_2 = definition.event("cycle_2")
    assert cycle_2 is not None
    assert cycle_2.schedule is not None
    assert (cycle_2.schedule.offset_days, cycle_2.schedule.window.before) == (22, 2)
    items = {item.name: (form.name, group, item) for form, group, item in definition.items()}
    assert "study_id" not in items
    assert "patient_initials" not in items
    # The matrix: one group under its section header, one shared code list.
    qol = [items[name] for name in ("qol_pain", "qol_fatigue", "qol_sleep")]
    assert {group.name for _f, group, _i in qol} == {qol[0][1].name}
    assert qol[0][1].label.en == "Quality of life (last 7 days)"
    assert {item.code_list for _f, _g, item in qol} == {"qol"}
    # Types, validations, limits, required.
    assert items["comorbidities"][2].type == "multiple_choice"
    assert items["weight"][2].type == "decimal"
    assert items["weight"][2].decimals == 1
    assert (items["weight"][2].range_min, items["weight"][2].range_max) == (30, 200)
    assert items["consent_date"][2].type == "date"
    assert items["consent_date"][2].required
    assert items["contact_email"][2].regex
    assert items["dose_reduced"][2].code_list == "yes_no"
    # Branching and calculations, through the REDCap translator.
    assert items["lvef"][2].show_if == "contains(comorbidities, 3)"
    assert items["reduction_reason"][2].show_if == "dose_reduced = 1"
    assert items["bmi"][2].calculation == "round(weight / (height / 100 * (height / 100)), 1)"
    assert "enrolment.consent_date" in items["days_since_consent"][2].calculation
    # What did not come over, each with its line and field.
    assert "line 3, patient_initials: an identifier field: refused (no identifying data)" in (
        not_carried
    )
    assert any(entry.startswith("line 29, gcsf: the branching logic") for entry in not_carried)
    assert any(entry.startswith("line 12, enrolment_note: descriptive") for entry in not_carried)
    assert any(
        entry.startswith("line 32, residual_burden: the field annotation") for entry in not_carried
    )
    assert items["gcsf"][2].show_if == ""  # untranslated: always shown, and listed


@pytest.mark.django_db
def test_the_imported_study_loads(tmp_path: Path) -> None:
    _definition, _not_carried, text = _imported(identifiers="identifying")
    path = tmp_path / "neoadj.yaml"
    path.write_text(text, encoding="utf-8")
    outcome = study_load(actor=ADMIN, study_file=study_file_read(path), source_name=path.name)
    loaded = outcome.study.versions.get().parsed()
    initials = next(i for _f, _g, i in loaded.items() if i.name == "patient_initials")
    assert initials.identifying


def test_a_study_goes_out_as_a_dictionary_and_comes_back() -> None:
    definition = study_file_read(FIXTURE).definition
    assert definition is not None
    text = dictionary_csv(dictionary_rows(definition, unblinded=True))
    assert text.splitlines()[0].startswith("Variable / Field Name,Form Name,")
    again = dictionary_import(text, identifier="MINI2")
    back, findings = study_text_validate(again.yaml(), name="mini2.yaml")
    assert [f for f in findings if f.severity == "error"] == []
    assert back is not None
    kept = {i.name for _f, g, i in back.items()}
    assert kept == {i.name for _f, _g, i in definition.items()}
    bmi = next(i for _f, _g, i in back.items() if i.name == "bmi")
    assert bmi.calculation == "weight / (height / 100 * (height / 100))"


def test_the_command_writes_the_study_and_lists_what_it_left(tmp_path: Path) -> None:
    output = tmp_path / "neoadj.yaml"
    out = io.StringIO()
    call_command(
        "redcap",
        "dictionary-import",
        str(FIXTURES / f"{PROJECT}_dictionary.csv"),
        "--identifier",
        "NEOADJ-BC",
        "--events",
        str(FIXTURES / f"{PROJECT}_events.csv"),
        "--mapping",
        str(FIXTURES / f"{PROJECT}_mapping.csv"),
        "--output",
        str(output),
        stdout=out,
    )
    assert "Not carried over: line 3, patient_initials" in out.getvalue()
    assert "0 errors" in out.getvalue()
    assert output.read_text(encoding="utf-8").startswith("format: carnet-study/1")


@pytest.mark.django_db
def test_the_command_exports_a_dictionary_and_imports_records(
    redcap: RedcapWorld, tmp_path: Path
) -> None:
    dictionary = tmp_path / "mini.csv"
    call_command(
        "redcap", "dictionary-export", "MINI", "--output", str(dictionary), stdout=io.StringIO()
    )
    assert "kit_number" in dictionary.read_text(encoding="utf-8")
    records = tmp_path / "records.json"
    records.write_text(
        json.dumps([{"record_id": "02-001", "redcap_event_name": "baseline_arm_1", "sbp": "141"}]),
        encoding="utf-8",
    )
    out = io.StringIO()
    call_command(
        "redcap",
        "records-import",
        "MINI",
        str(records),
        "--reason",
        "migration from REDCap",
        stdout=out,
    )
    assert "1 records imported into MINI." in out.getvalue()


@pytest.mark.django_db
def test_a_redcap_project_moves_over_and_reads_back_as_the_same_data_frame(
    tmp_path: Path,
) -> None:
    """Dictionary and events in, study loaded, records in: the API gives the same frame."""
    import pandas as pd

    from carnet.accounts.roles import Role
    from carnet.accounts.services import (
        centre_add,
        site_activate,
        site_add,
        token_create,
    )
    from carnet.studies.models import Study
    from carnet.studies.services import study_mode_change, study_publish
    from tests.accounts.personas import person, with_second_factor

    yaml = tmp_path / "neoadj.yaml"
    call_command(
        "redcap",
        "dictionary-import",
        str(FIXTURES / f"{PROJECT}_dictionary.csv"),
        "--identifier",
        "NEOADJ-BC",
        "--events",
        str(FIXTURES / f"{PROJECT}_events.csv"),
        "--mapping",
        str(FIXTURES / f"{PROJECT}_mapping.csv"),
        "--output",
        str(yaml),
        stdout=io.StringIO(),
    )
    call_command("study", "load", str(yaml), stdout=io.StringIO())
    study = Study.objects.get(identifier="NEOADJ-BC")
    study_publish(actor=ADMIN, study=study)
    study_mode_change(actor=ADMIN, study=study, mode="production")
    centre = centre_add(
        actor=ADMIN, code="ICM", name="Institut du Cancer de Montpellier", city="Montpellier"
    )
    site_activate(
        actor=ADMIN,
        site=site_add(actor=ADMIN, study=study, centre=centre),
        on=pd.Timestamp("2025-01-01").date(),
    )
    records = FIXTURES / f"{PROJECT}_records.csv"
    out = io.StringIO()
    call_command(
        "redcap",
        "records-import",
        "NEOADJ-BC",
        str(records),
        "--include-at",
        "01",
        "--included-on",
        "2025-05-01",
        "--reason",
        "moved from REDCap",
        stdout=out,
    )
    assert "2 subjects included." in out.getvalue()

    original = pd.read_csv(records).rename(columns={"study_id": "record_id"})
    manager = with_second_factor(person("dm", study=study, role=Role.DATA_MANAGER))
    key = token_create(actor=ADMIN, user=manager, study=study)[1]
    from django.test import Client

    fields = {f"fields[{n}]": c for n, c in enumerate(original.columns[2:])}
    response = Client().post(
        "/redcap/api/",
        {"token": key, "content": "record", "format": "csv", "type": "flat", **fields},
    )
    assert response.status_code == 200, response.content
    text = b"".join(response.streaming_content).decode()
    exported = pd.read_csv(io.StringIO(text))
    index = ["record_id", "redcap_event_name"]
    left = original.set_index(index).sort_index()
    right = exported.set_index(index)[list(left.columns)].sort_index()
    pd.testing.assert_frame_equal(left, right, check_dtype=False)
