"""Loading a study's laboratory file: all of it or nothing, every refusal located, audited."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from carnet.accounts.permissions import PermissionDenied
from carnet.audit.models import AuditEvent
from carnet.core.errors import ValidationError
from carnet.laboratory.models import LabItem, LabSettings, NormalRange
from carnet.laboratory.services import lab_file_load
from tests.laboratory.conftest import RANGES_FILE, Lab

pytestmark = pytest.mark.django_db

HEADER = "site,laboratory,analyte,sex,age_min,age_max,from,to,unit,low,high\n"


def load(lab: Lab, actor: Any, text: str, name: str = "ranges.csv") -> None:
    lab_file_load(actor=actor, study=lab.study, content=text.encode(), file_name=name)


def test_the_fixture_file_is_loaded_and_audited(lab: Lab) -> None:
    assert NormalRange.objects.filter(study=lab.study).count() == 5
    assert LabItem.objects.filter(study=lab.study).count() == 4
    settings = LabSettings.objects.get(study=lab.study)
    assert (settings.date_item, settings.age_item, settings.baseline_event) == (
        "lab_date",
        "age",
        "baseline",
    )
    event = AuditEvent.objects.filter(action="laboratory.file_loaded").get()
    assert event.chain == lab.study.audit_chain
    assert event.new["file_name"] == "labs-ranges.yaml"
    assert len(event.new["ranges"]) == 5
    assert event.new["items"]["date_item"] == "lab_date"


def test_a_csv_replaces_the_ranges_and_keeps_the_mapping(lab: Lab, system_actor: Any) -> None:
    load(lab, system_actor, HEADER + ",,neutrophils,,,,2024-01-01,,G/L,2.0,7.0\n")
    assert [(r.analyte, r.low) for r in NormalRange.objects.filter(study=lab.study)] == [
        ("neutrophils", 2)
    ]
    assert LabItem.objects.filter(study=lab.study).count() == 4
    event = AuditEvent.objects.filter(action="laboratory.file_loaded").last()
    assert event is not None
    assert (len(event.old["ranges"]), len(event.new["ranges"])) == (5, 1)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            ",,neutrophils,,,,2024-01-01,,G/L,7.0,2.0",
            "ranges.csv, line 3, column 11: the high limit must be above the low limit.",
        ),
        (
            ",,neutrophils,X,,,2024-01-01,,G/L,2.0,7.0",
            "ranges.csv, line 3, column 4: sex must be M, F or both, not 'X'.",
        ),
        (
            ",,neutrophils,,,,2024-13-01,,G/L,2.0,7.0",
            "ranges.csv, line 3, column 7: from: '2024-13-01' is not a date (YYYY-MM-DD).",
        ),
        (
            ",,neutrophils,,,,2024-01-01,,furlongs,2.0,7.0",
            "ranges.csv, line 3, column 9: the unit 'furlongs' is unknown.",
        ),
        (
            "09,,neutrophils,,,,2024-01-01,,G/L,2.0,7.0",
            "ranges.csv, line 3, column 1: the site '09' is not a site of the study.",
        ),
        (
            ",,neutrophils,,70,18,2024-01-01,,G/L,2.0,7.0",
            "ranges.csv, line 3, column 6: age_max must be above age_min.",
        ),
        (
            ",,neutrophils,,,,2024-01-01,,G/L,,",
            "ranges.csv, line 3, column 10: a range needs a low or a high limit.",
        ),
        (
            ",,neutrophils,,,,2024-01-01,,G/L,abc,7",
            "ranges.csv, line 3, column 10: low: 'abc' is not a number.",
        ),
        # Both sexes overlap the men's range of line 2 (same site, ages and dates).
        (
            ",,neutrophils,,,,2025-06-01,,G/L,2.0,7.0",
            "ranges.csv, line 3, column 1: this neutrophils range overlaps the one on line 2 "
            "(same site, sex, ages and dates).",
        ),
    ],
)
def test_a_bad_line_is_refused_where_it_is_and_nothing_changes(
    lab: Lab, system_actor: Any, line: str, message: str
) -> None:
    before = list(NormalRange.objects.filter(study=lab.study).values_list("pk", flat=True))
    text = HEADER + ",,neutrophils,M,,,2024-01-01,2025-12-31,G/L,1.8,7.5\n" + line + "\n"
    with pytest.raises(ValidationError) as refused:
        load(lab, system_actor, text)
    assert str(refused.value) == message
    assert list(NormalRange.objects.filter(study=lab.study).values_list("pk", flat=True)) == before


def test_ranges_that_do_not_overlap_are_taken(lab: Lab, system_actor: Any) -> None:
    load(
        lab,
        system_actor,
        HEADER
        + ",,neutrophils,M,,,2024-01-01,2025-12-31,G/L,1.8,7.5\n"
        + ",,neutrophils,M,,,2026-01-01,,G/L,1.9,7.6\n"  # after the first one ends
        + ",,neutrophils,F,,,2024-01-01,,G/L,1.7,7.5\n"  # the other sex
        + "02,,neutrophils,,,,2024-01-01,,G/L,1.5,7.0\n"  # a site of its own
        + ",,creatinine,,0,18,2024-01-01,,µmol/L,20,60\n"
        + ",,creatinine,,18,,2024-01-01,,µmol/L,45,105\n",  # the next age band
    )
    assert NormalRange.objects.filter(study=lab.study).count() == 6


def test_a_csv_with_an_unknown_column_is_refused_on_its_header(lab: Lab, system_actor: Any) -> None:
    with pytest.raises(ValidationError) as refused:
        load(lab, system_actor, "analyte,unit,from,colour\n")
    assert str(refused.value) == "ranges.csv, line 1, column 4: unknown column 'colour'."


@pytest.mark.parametrize(
    ("replace", "by", "message"),
    [
        (
            "{item: alt, analyte: alt, unit: U/L, uln_item: alt_uln}",
            "{item: alt, analyte: alt, unit: U/L, uln_item: alt_limit}",
            "ranges.yaml, line 7, column 5: the study has no item 'alt_limit'.",
        ),
        (
            "{item: neutrophils, analyte: neutrophils, unit: G/L}",
            "{item: comment, analyte: neutrophils, unit: G/L}",
            "ranges.yaml, line 5, column 5: the item 'comment' does not hold a number.",
        ),
        (
            "baseline_event: baseline",
            "baseline_event: screening",
            "ranges.yaml, line 3, column 17: the study has no event 'screening'.",
        ),
        (
            "{item: drug_level, analyte: glucose, unit: mmol/L}",
            "{item: drug_level, analyte: glucose, unit: U/L}",
            "ranges.yaml, line 14, column 5: glucose: cannot convert mmol/L to the item's unit "
            "U/L.",
        ),
        (
            "{analyte: neutrophils, unit: G/L, low: 1.8, high: 7.5, from: 2020-01-01}",
            "{analyte: neutrophils, unit: G/L, low: 1.8, hihg: 7.5, from: 2020-01-01}",
            "ranges.yaml, line 10, column 49: unknown key 'hihg'.",
        ),
        (
            "items:",
            "itmes:",
            "ranges.yaml, line 4, column 1: unknown key 'itmes'.",
        ),
    ],
)
def test_a_bad_yaml_file_is_refused_where_it_is(
    lab: Lab, system_actor: Any, replace: str, by: str, message: str
) -> None:
    text = RANGES_FILE.read_text(encoding="utf-8")
    assert text.count(replace) == 1
    with pytest.raises(ValidationError) as refused:
        load(lab, system_actor, text.replace(replace, by), name="ranges.yaml")
    assert str(refused.value) == message


def test_only_those_who_manage_the_study_load_ranges(lab: Lab) -> None:
    with pytest.raises(PermissionDenied):
        load(lab, lab.sophie, HEADER)
    load(lab, lab.dora, HEADER + ",,neutrophils,,,,2024-01-01,,G/L,2.0,7.0\n")
    assert NormalRange.objects.filter(study=lab.study).count() == 1


def test_loading_the_file_in_force_again_changes_nothing(lab: Lab, system_actor: Any) -> None:
    before = AuditEvent.objects.filter(action="laboratory.file_loaded").count()
    loaded = lab_file_load(
        actor=system_actor,
        study=lab.study,
        content=RANGES_FILE.read_bytes(),
        file_name="labs-ranges.yaml",
    )
    assert (loaded.unchanged, loaded.ranges, loaded.items) == (True, 5, 4)
    assert AuditEvent.objects.filter(action="laboratory.file_loaded").count() == before


def test_the_demo_file_fits_maintain_crc(system_actor: Any) -> None:
    from carnet.studies.definition import study_file_read
    from carnet.studies.services import study_load, study_publish

    examples = Path(__file__).resolve().parents[2] / "examples"
    outcome = study_load(
        actor=system_actor,
        study_file=study_file_read(examples / "studies" / "maintain-crc.yaml"),
        source_name="maintain-crc.yaml",
    )
    study_publish(actor=system_actor, study=outcome.study)
    outcome.study.refresh_from_db()
    path = examples / "laboratory" / "maintain-crc-ranges.yaml"
    loaded = lab_file_load(
        actor=system_actor, study=outcome.study, content=path.read_bytes(), file_name=path.name
    )
    assert (loaded.ranges, loaded.items) == (14, 10)


def test_the_command_line_loads_shows_and_refuses_in_place(lab: Lab, tmp_path: Path) -> None:
    ranges = tmp_path / "ranges.csv"
    ranges.write_text(HEADER + ",,neutrophils,,,,2024-01-01,,G/L,2.0,7.0\n", encoding="utf-8")
    out = io.StringIO()
    call_command("lab", "ranges", "load", "LABS", str(ranges), stdout=out)
    assert out.getvalue().startswith("LABS: 1 normal ranges loaded (5 replaced), 0 items mapped")
    shown = io.StringIO()
    call_command("lab", "ranges", "show", "LABS", stdout=shown)
    assert "*\tneutrophils\t*\t-\t2024-01-01\t\t2\t7\t10^9/L" in shown.getvalue()
    assert "item alt → alt (U/L) uln=alt_uln" in shown.getvalue()
    ranges.write_text(HEADER + ",,neutrophils,,,,2024-01-01,,G/L,7.0,2.0\n", encoding="utf-8")
    with pytest.raises(CommandError) as refused:
        call_command("lab", "ranges", "load", "LABS", str(ranges))
    assert str(refused.value) == (
        "ranges.csv, line 2, column 11: the high limit must be above the low limit."
    )
