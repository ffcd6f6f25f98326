"""The study file's expected samples (``events[].samples``): parsed into the definition, kept
by a stored version, and every error located at its line and path."""

from __future__ import annotations

from pathlib import Path

from carnet.studies.definition import Finding, study_file_read, study_text_validate
from carnet.studies.definition.model import StudyDefinition
from tests.accounts.personas import FIXTURE
from tests.biobank.conftest import BASELINE_FORMS, SAMPLES

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "studies"
TEXT = FIXTURE.read_text(encoding="utf-8").replace(BASELINE_FORMS, BASELINE_FORMS + SAMPLES)


def errors(old: str, new: str) -> list[Finding]:
    assert old in TEXT
    text = TEXT.replace(old, new, 1)
    definition, findings = study_text_validate(text, name="planted.yaml")
    assert definition is None
    return [finding for finding in findings if finding.severity == "error"]


def line_of(fragment: str) -> int:
    return TEXT[: TEXT.index(fragment)].count("\n") + 1


def test_expected_samples_are_parsed_and_survive_a_stored_version() -> None:
    definition, _findings = study_text_validate(TEXT, name="mini.yaml")
    assert definition is not None
    baseline = definition.event("baseline")
    assert baseline is not None
    plasma = baseline.sample("plasma")
    assert plasma is not None
    assert (plasma.type, plasma.container, plasma.volume, plasma.unit, plasma.aliquots) == (
        "plasma",
        "edta",
        10,
        "mL",
        4,
    )
    assert plasma.processing.centrifuge_within_minutes == 120
    assert plasma.processing.second_centrifugation is True
    assert plasma.storage == -80
    assert plasma.destination == "CRB"
    assert baseline.sample("biopsy").optional  # type: ignore[union-attr]
    assert StudyDefinition.from_json(definition.to_json()) == definition


def test_maintain_crc_expects_plasma_and_tumour_at_baseline_and_progression() -> None:
    definition = study_file_read(EXAMPLES / "maintain-crc.yaml").definition
    expected = {
        event.name: [(s.code, s.type) for s in event.samples]
        for event in definition.events
        if event.samples
    }
    assert expected == {
        "baseline": [("plasma_ctdna", "plasma"), ("tumour_block", "tumour_ffpe")],
        "end_of_treatment": [("plasma_ctdna", "plasma"), ("tumour_biopsy", "tumour_ffpe")],
    }


def test_a_tissue_centrifuged_is_located() -> None:
    found = errors(
        "          fixative: neutral_buffered_formalin\n",
        "          fixative: neutral_buffered_formalin\n          centrifuge_g: 2000\n",
    )
    assert len(found) == 1, [str(f) for f in found]
    assert found[0].path == "events[0].samples[1].processing.centrifuge_g"
    assert found[0].line == line_of("          fixative: neutral_buffered_formalin\n") + 1
    assert "tumour_ffpe is a tissue: it is not centrifuged" in found[0].message


def test_a_duplicate_code_a_wrong_unit_and_an_unknown_type_are_located() -> None:
    found = errors("      - code: tumour\n", "      - code: plasma\n")
    assert [(f.path, f.line) for f in found] == [
        ("events[0].samples[1].code", line_of("      - code: tumour\n"))
    ]
    assert "already expects a sample 'plasma'" in found[0].message
    found = errors("        unit: blocks\n", "        unit: mL\n")
    assert [f.path for f in found] == ["events[0].samples[1].unit"]
    assert "'mL' is not a unit for a tissue" in found[0].message
    found = errors("        type: plasma\n", "        type: blood_orange\n")
    assert [f.path for f in found] == ["events[0].samples[0].type"]


def test_freezing_due_before_centrifugation_is_located() -> None:
    found = errors(
        "          freeze_within_minutes: 240\n", "          freeze_within_minutes: 60\n"
    )
    assert [f.path for f in found] == ["events[0].samples[0].processing.freeze_within_minutes"]
    assert found[0].line == line_of("          freeze_within_minutes: 240\n")
