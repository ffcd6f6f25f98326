"""The study format's deviation checks: refused with file and line where they cannot work."""

from __future__ import annotations

from pathlib import Path

import pytest

from carnet.studies.definition import Finding, study_file_read, study_text_validate

FIXTURE = Path(__file__).resolve().parents[1] / "studies" / "fixtures" / "mini.yaml"
MINI = FIXTURE.read_text()
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "studies"
BP_ORDER = '{name: bp_order, expression: "sbp > dbp", severity: soft,'


def errors(text: str) -> list[Finding]:
    definition, findings = study_text_validate(text, name="planted.yaml")
    assert definition is None, "the planted error was not refused"
    return [finding for finding in findings if finding.severity == "error"]


def planted_check(fields: str, severity: str = "soft") -> str:
    assert MINI.count(BP_ORDER) == 1
    return MINI.replace(
        BP_ORDER, f'{{name: bp_order, expression: "sbp > dbp", severity: {severity}, {fields}'
    )


LINE = MINI[: MINI.index(BP_ORDER)].count("\n") + 1


def test_a_deviation_check_is_read_with_its_class_and_category() -> None:
    text = planted_check("deviation: true, deviation_class: minor, deviation_category: dosing,")
    definition, findings = study_text_validate(text, name="mini.yaml")
    assert findings == []
    assert definition is not None
    (check,) = [c for c in definition.form("vitals").checks if c.name == "bp_order"]
    assert (check.deviation, check.deviation_class, check.deviation_category) == (
        True,
        "minor",
        "dosing",
    )


@pytest.mark.parametrize(
    ("fields", "severity", "path", "message"),
    [
        (
            "deviation: true, deviation_class: minor, deviation_category: paperwork,",
            "soft",
            "forms[0].checks[0].deviation_category",
            "'paperwork' is not a deviation category; known: eligibility, consent, "
            "visit_window, dosing, prohibited_medication, assessment_missed, other.",
        ),
        (
            "deviation: true, deviation_class: minor, deviation_category: visit_windw,",
            "soft",
            "forms[0].checks[0].deviation_category",
            "'visit_windw' is not a deviation category (did you mean 'visit_window'?); known: "
            "eligibility, consent, visit_window, dosing, prohibited_medication, "
            "assessment_missed, other.",
        ),
        (
            "deviation: true, deviation_category: dosing,",
            "soft",
            "forms[0].checks[0].deviation",
            "a deviation check needs deviation_class.",
        ),
        (
            "deviation_class: major,",
            "soft",
            "forms[0].checks[0].deviation_class",
            "deviation_class is only read on a check marked 'deviation: true'.",
        ),
        (
            "deviation: true, deviation_class: major, deviation_category: dosing,",
            "hard",
            "forms[0].checks[0].severity",
            "a hard check refuses the save, so it never records a deviation: make it soft.",
        ),
        (
            "deviation: true, deviation_class: critical, deviation_category: dosing,",
            "soft",
            "forms[0].checks[0].deviation_class",
            "'critical' is not one of 'major', 'minor'.",
        ),
    ],
)
def test_a_deviation_check_that_cannot_work_is_refused_at_its_line(
    fields: str, severity: str, path: str, message: str
) -> None:
    (finding,) = errors(planted_check(fields, severity))
    assert (finding.file, finding.line, finding.path, finding.message) == (
        "planted.yaml",
        LINE,
        path,
        message,
    )


def test_a_study_adds_its_own_deviation_categories() -> None:
    text = planted_check(
        "deviation: true, deviation_class: minor, deviation_category: imaging_protocol,"
    ).replace(
        "  not_done_reasons:" if "  not_done_reasons:" in MINI else "arms:\n",
        "  deviation_categories:\n"
        "    - {name: imaging_protocol, label: {en: Imaging protocol, fr: Protocole d'imagerie}}\n"
        + ("  not_done_reasons:" if "  not_done_reasons:" in MINI else "arms:\n"),
        1,
    )
    definition, findings = study_text_validate(text, name="mini.yaml")
    assert findings == []
    assert definition is not None
    labels = definition.deviation_category_labels()
    assert labels["imaging_protocol"].fr == "Protocole d'imagerie"
    assert "visit_window" in labels


def test_the_demo_window_rules_record_deviations() -> None:
    maintain = study_file_read(EXAMPLES / "maintain-crc.yaml").definition
    acc = study_file_read(EXAMPLES / "simon-phase2.yaml").definition
    marked = {
        (study.identifier, form.name, check.name, check.deviation_class)
        for study in (maintain, acc)
        for form in study.forms
        for check in form.checks
        if check.deviation
    }
    assert marked == {
        ("MAINTAIN-CRC", "randomisation", "rando_after_induction", "minor"),
        ("MAINTAIN-CRC", "tumour_baseline", "bl_scan_window", "major"),
        ("ACC-209", "tumour_baseline", "bl_scan_window", "major"),
    }
