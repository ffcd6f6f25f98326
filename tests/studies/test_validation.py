"""`carnet study validate`: every planted error is found, located and explained; warnings pass."""

from __future__ import annotations

from pathlib import Path

import pytest

from carnet.studies.definition import Finding, StudyFileError, study_file_read, study_text_validate

FIXTURE = Path(__file__).parent / "fixtures" / "mini.yaml"
MINI = FIXTURE.read_text()
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "studies"


def planted(old: str, new: str, *, text: str = MINI) -> list[Finding]:
    assert old in text, f"the fixture no longer contains {old!r}"
    definition, findings = study_text_validate(text.replace(old, new, 1), name="planted.yaml")
    assert definition is None, "the planted error was not refused"
    return [finding for finding in findings if finding.severity == "error"]


def line_of(fragment: str, text: str = MINI) -> int:
    return text[: text.index(fragment)].count("\n") + 1


def only(findings: list[Finding]) -> Finding:
    assert len(findings) == 1, [str(f) for f in findings]
    return findings[0]


def test_the_fixture_study_is_valid_and_complete() -> None:
    definition, findings = study_text_validate(MINI, name="mini.yaml")
    assert findings == []
    assert definition is not None
    assert [event.name for event in definition.events] == ["baseline", "cycle", "adverse_events"]
    assert definition.form("lesions").groups[0].repeating
    assert definition.event("cycle").schedule is not None
    assert definition.event("cycle").schedule.repeat is not None
    assert definition.form("vitals").items()[0].oid == "I.WEIGHT"  # derived from the name


@pytest.mark.parametrize("name", ["maintain-crc.yaml", "simon-phase2.yaml"])
def test_the_demo_studies_are_valid_without_warnings(name: str) -> None:
    study_file = study_file_read(EXAMPLES / name)
    assert study_file.warnings == []
    definition = study_file.definition
    assert all(item.label.en and item.label.fr for _, _, item in definition.items())


def test_malformed_yaml_is_located() -> None:
    finding = only(planted("title: {en: Mini study, fr: Petite étude}", "title: {en: Mini study"))
    # The parser notices the unclosed mapping where the next key starts.
    assert finding.line == line_of("title: {en: Mini") + 1
    assert finding.path == "(syntax)"
    assert "not valid YAML" in finding.message


def test_a_tab_is_located_at_its_line() -> None:
    finding = only(planted("      - name: vs\n", "\t- name: vs\n"))
    assert (finding.line, finding.column) == (line_of("      - name: vs"), 1)
    assert "tab" in finding.message


def test_a_duplicate_yaml_key_is_refused() -> None:
    finding = only(planted("  phase: II\n", "  phase: II\n  phase: III\n"))
    assert "duplicate key" in finding.message


def test_duplicate_oids_are_refused_with_the_first_place() -> None:
    findings = planted(
        "{name: height, type: integer,", "{name: height, oid: I.WEIGHT, type: integer,"
    )
    finding = only(findings)
    assert finding.path == "forms[0].groups[0].items[1].oid"
    assert finding.line == line_of("{name: height")
    assert (
        f"the OID 'I.WEIGHT' is already used (line {line_of('{name: weight')})" in finding.message
    )


def test_duplicate_item_names_are_refused() -> None:
    findings = planted("{name: height, type: integer,", "{name: weight, type: integer,")
    duplicate = [f for f in findings if "the item name 'weight' is already used" in f.message]
    assert [f.line for f in duplicate] == [line_of("{name: height")]
    assert duplicate[0].path == "forms[0].groups[0].items[1].name"


def test_an_unknown_item_in_a_rule_is_named_with_its_position() -> None:
    finding = only(planted('expression: "sbp > dbp"', 'expression: "sbp > dpb"'))
    assert finding.path == "forms[0].checks[0].expression"
    assert finding.line == line_of('expression: "sbp > dbp"')
    assert "no item is named 'dpb'" in finding.message
    assert "column 7 of the expression" in finding.message


def test_a_type_error_in_a_rule_is_refused() -> None:
    finding = only(planted('show_if: "smoker = 1"', "show_if: \"smoker = 'yes'\""))
    assert finding.path == "forms[0].groups[0].items[6].show_if"
    assert "compare" in finding.message


def test_a_rule_that_is_not_a_condition_is_refused() -> None:
    finding = only(planted('expression: "sbp > dbp"', 'expression: "sbp + dbp"'))
    assert "gives" in finding.message


def test_a_code_of_the_wrong_type_is_refused() -> None:
    finding = only(planted('{code: 0, label: {en: "No"', "{code: 'no', label: {en: \"No\""))
    assert finding.path == "code_lists[0].items[1].code"
    assert finding.line == line_of("{code: 0, label")
    assert "is text but the code list 'yes_no' holds integers" in finding.message


def test_an_event_anchored_on_itself_is_refused() -> None:
    finding = only(planted("anchor: event:baseline", "anchor: event:cycle"))
    assert finding.path == "events[1].schedule.anchor"
    assert finding.line == line_of("anchor: event:baseline")
    assert "cannot be anchored on itself" in finding.message


def test_an_event_anchored_on_a_missing_event_is_refused() -> None:
    finding = only(planted("anchor: event:baseline", "anchor: event:screening"))
    assert "there is no event named 'screening' to anchor on" in finding.message


def test_anchors_going_round_in_a_circle_are_refused() -> None:
    text = MINI.replace(
        "schedule: {anchor: inclusion, window: {before: 7, after: 0}}",
        "schedule: {anchor: 'event:cycle', window: {before: 7, after: 0}}",
    )
    definition, findings = study_text_validate(text, name="circle.yaml")
    assert definition is None
    assert any("round in a circle: baseline -> cycle -> baseline" in f.message for f in findings)


def test_a_window_wider_than_the_interval_between_occurrences_is_refused() -> None:
    finding = only(planted("window: {before: 2, after: 3}", "window: {before: 7, after: 9}"))
    assert finding.path == "events[1].schedule.window"
    assert "spans 16 days" in finding.message
    assert "14 days between occurrences" in finding.message


def test_an_unknown_field_suggests_the_right_one() -> None:
    findings = planted("  sponsor: Institut", "  sponsr: Institut")
    assert {f.message.split(";")[0] for f in findings} == {
        "unknown field 'sponsr' (did you mean 'sponsor'?)",
        "the field 'sponsor' is missing.",
    }
    assert {f.line for f in findings} == {line_of("  identifier: MINI")}


def test_a_reversed_range_and_circular_calculations_are_refused() -> None:
    # bmi is calculated from height; height becomes calculated from bmi: a real cycle, with an
    # expression that type-checks (round(bmi) alone would stop at round's argument count).
    text = MINI.replace("range: {min: 20, max: 250}", "range: {min: 250, max: 20}").replace(
        "{name: height, type: integer, label: {en: Height, fr: Taille}, units: cm}",
        '{name: height, type: calculated, result_type: decimal, calculation: "round(bmi, 0)", '
        "label: {en: Height, fr: Taille}, units: cm}",
    )
    definition, findings = study_text_validate(text, name="two.yaml")
    assert definition is None
    messages = [f.message for f in findings]
    assert any("min 250 is above max 20" in m for m in messages)
    [cycle] = [f for f in findings if "in a circle" in f.message]
    assert (
        cycle.message == "calculations depend on each other in a circle: height -> bmi -> height."
    )
    assert cycle.path == "forms[0].groups[0].items[2].calculation"  # bmi's, where the cycle closes
    assert cycle.line == line_of('calculation: "weight / ((height / 100) * (height / 100))"')
    assert len([f for f in findings if f.severity == "error"]) == 2, [str(f) for f in findings]


def test_every_error_is_reported_at_once() -> None:
    text = (
        MINI.replace('expression: "sbp > dbp"', 'expression: "sbp > dpb"')
        .replace("anchor: event:baseline", "anchor: event:cycle")
        .replace("{code: 0,", "{code: '0',")
    )
    _definition, findings = study_text_validate(text, name="many.yaml")
    assert len([f for f in findings if f.severity == "error"]) == 3


def test_a_long_name_without_a_sas_name_is_a_warning_that_does_not_fail() -> None:
    text = MINI.replace("sas_name: LESSITE, ", "")
    definition, findings = study_text_validate(text, name="warn.yaml")
    assert definition is not None
    (warning,) = findings
    assert warning.severity == "warning"
    assert "SAS XPT v5 allows 8" in warning.message
    assert warning.path == "forms[1].groups[0].items[0].name"


def test_a_label_in_one_language_is_a_warning() -> None:
    text = MINI.replace("label: {en: Height, fr: Taille}", "label: {en: Height}")
    definition, findings = study_text_validate(text, name="warn.yaml")
    assert definition is not None
    assert [f.message for f in findings] == [
        "no French text; pages in French will show the other language."
    ]


def test_a_file_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    broken = tmp_path / "latin1.yaml"
    broken.write_bytes(MINI.replace("Petite étude", "Petite \xe9tude").encode("latin-1"))
    with pytest.raises(StudyFileError) as caught:
        study_file_read(broken)
    assert "not UTF-8" in caught.value.findings[0].message
    assert caught.value.findings[0].line == line_of("title:")


def test_the_definition_round_trips_through_json() -> None:
    from carnet.studies.definition.model import StudyDefinition

    definition = study_file_read(FIXTURE).definition
    assert StudyDefinition.from_json(definition.to_json()) == definition


def test_the_complete_example_of_the_format_documentation_is_valid() -> None:
    import re

    doc = (Path(__file__).resolve().parents[2] / "docs" / "study-format.md").read_text()
    example = next(
        block for block in re.findall(r"```yaml\n(.*?)```", doc, re.S) if block.startswith("#")
    )
    definition, findings = study_text_validate(example, name="docs/study-format.md")
    assert definition is not None, [str(f) for f in findings]
    assert findings == []


# --- registration: the wizard's answers written into the casebook ---------------------------


def _with_registration(section: str) -> str:
    return MINI + "registration:\n" + section


def test_a_registration_mapping_loads_with_the_form_of_each_item() -> None:
    text = _with_registration(
        "  questions:\n"
        "    biobank_consent: {item: baseline.smoker, codes: {yes: 1, no: 0}}\n"
        "  eligibility: [baseline.weight]\n"
    )
    definition, findings = study_text_validate(text, name="mini.yaml")
    assert findings == []
    assert definition is not None
    smoker, weight = definition.registration
    assert (smoker.question, smoker.event, smoker.form, smoker.item) == (
        "biobank_consent",
        "baseline",
        "vitals",
        "smoker",
    )
    assert smoker.code("yes") == 1
    assert smoker.code("no") == 0
    assert (weight.question, weight.form, weight.item) == ("baseline.weight", "vitals", "weight")
    assert type(definition).from_json(definition.to_json()) == definition


@pytest.mark.parametrize(
    ("section", "place", "path", "message"),
    [
        (
            "  questions:\n    age: {item: baseline.agee}\n",
            "age: {item",
            "registration.questions.age.item",
            "there is no item named 'agee'.",
        ),
        (
            "  questions:\n    age: {item: baseline.vs_date}\n",
            "age: {item",
            "registration.questions.age.item",
            "the answer to 'age' cannot go into 'vs_date', a date item: it needs a decimal or "
            "integer item.",
        ),
        (
            "  questions:\n    biobank_consent: {item: baseline.smoker, codes: {yes: 1, no: 7}}\n",
            "no: 7",
            "registration.questions.biobank_consent.codes.no",
            "7 is not a code of the code list 'yes_no'.",
        ),
        (
            "  eligibility: [baseline.height]\n",
            "  eligibility: [baseline.height]",
            "registration.eligibility[0]",
            "no eligibility criterion reads 'baseline.height', so the wizard does not ask it.",
        ),
        (
            "  eligibility: [cycle.bmi]\n",
            "  eligibility: [cycle.bmi]",
            "registration.eligibility[0]",
            "'bmi' is calculated, never entered: inclusion cannot write it.",
        ),
    ],
)
def test_a_registration_answer_that_no_casebook_item_can_hold_is_located(
    section: str, place: str, path: str, message: str
) -> None:
    text = _with_registration(section)
    definition, findings = study_text_validate(text, name="planted.yaml")
    assert definition is None
    finding = only([f for f in findings if f.severity == "error"])
    assert (finding.file, finding.line, finding.path) == (
        "planted.yaml",
        line_of(place, text),
        path,
    )
    assert finding.message == message


SCHEME = "randomisation: {method: minimisation, ratio: [1, 1], factors: [site, smoker]}"


def test_a_blocks_scheme_with_strata_and_block_sizes_is_valid() -> None:
    text = MINI.replace(
        SCHEME,
        "randomisation: {method: blocks, ratio: [2, 1], block_sizes: [3, 6], strata: [site]}",
    )
    definition, findings = study_text_validate(text, name="blocks.yaml")
    assert findings == []
    assert definition is not None
    scheme = definition.randomisation_scheme()
    assert scheme is not None
    assert (scheme.method, scheme.ratio, scheme.block_sizes) == ("blocks", (2, 1), (3, 6))
    assert [factor.name for factor in scheme.factors] == ["site"]


def test_a_minimisation_scheme_has_its_defaults() -> None:
    definition, _ = study_text_validate(MINI, name="mini.yaml")
    assert definition is not None
    scheme = definition.randomisation_scheme()
    assert scheme is not None
    assert (scheme.imbalance, scheme.p, scheme.arms) == ("range", 0.8, ("experimental", "placebo"))


def test_a_factor_that_is_not_in_the_casebook_is_refused_at_its_place() -> None:
    finding = only(planted("factors: [site, smoker]", "factors: [site, smokr]"))
    assert finding.path == "study.design.randomisation.factors[1]"
    assert finding.line == line_of("factors: [site, smoker]")
    assert "'smokr' is neither 'site' nor an item of the casebook (did you mean 'smoker'?)" in (
        finding.message
    )


def test_a_factor_that_is_not_a_choice_item_is_refused() -> None:
    finding = only(planted("factors: [site, smoker]", "factors: [site, {name: weight, weight: 2}]"))
    assert finding.path == "study.design.randomisation.factors[1]"
    assert "'weight' is a decimal item; a factor must be a single_choice item" in finding.message


def test_a_block_size_that_breaks_the_ratio_is_refused() -> None:
    finding = only(
        planted(SCHEME, "randomisation: {method: blocks, ratio: [2, 1], block_sizes: [3, 4]}")
    )
    assert finding.path == "study.design.randomisation.block_sizes[1]"
    assert "a block of 4 cannot keep the ratio: use a multiple of 3." in finding.message


def test_a_setting_the_method_does_not_read_is_refused() -> None:
    finding = only(planted(SCHEME, "randomisation: {method: simple, factors: [site]}"))
    assert finding.path == "study.design.randomisation.factors"
    assert "'factors' is not read by the method 'simple'" in finding.message


def test_minimisation_without_factors_and_blocks_without_sizes_are_refused() -> None:
    assert (
        "minimisation needs at least one factor."
        in only(planted(SCHEME, "randomisation: {method: minimisation}")).message
    )
    assert (
        "blocks need block_sizes"
        in only(planted(SCHEME, "randomisation: {method: blocks, strata: [site]}")).message
    )


def test_an_out_of_range_p_and_an_unknown_imbalance_are_refused() -> None:
    findings = planted(
        "factors: [site, smoker]}", "factors: [site, smoker], p: 1.5, imbalance: spread}"
    )
    assert {f.path for f in findings} == {
        "study.design.randomisation.p",
        "study.design.randomisation.imbalance",
    }


def _with_pregnancy(pregnancy: str) -> str:
    return MINI.replace(SCHEME, f"{SCHEME}, safety: {{pregnancy: {pregnancy}}}", 1)


def test_a_pregnancy_form_that_is_not_in_the_casebook_is_refused_at_its_place() -> None:
    # A wrong name used to open no pregnancy report at all, silently.
    text = _with_pregnancy("{form: vitalz}")
    definition, findings = study_text_validate(text, name="pregnancy.yaml")
    assert definition is None
    finding = only([f for f in findings if f.severity == "error"])
    assert finding.path == "study.design.safety.pregnancy.form"
    assert "there is no form named 'vitalz' (did you mean 'vitals'?)" in finding.message


def test_a_pregnancy_item_that_is_not_on_its_form_is_refused() -> None:
    text = _with_pregnancy("{form: vitals, items: {lmp: nothing_here}}")
    definition, findings = study_text_validate(text, name="pregnancy.yaml")
    assert definition is None
    finding = only([f for f in findings if f.severity == "error"])
    assert finding.path == "study.design.safety.pregnancy.items.lmp"
    assert "the form 'vitals' has no item named 'nothing_here'" in finding.message


def test_a_declared_pregnancy_form_of_the_casebook_is_valid() -> None:
    definition, findings = study_text_validate(_with_pregnancy("{form: vitals}"), name="p.yaml")
    assert [f for f in findings if f.severity == "error"] == []
    assert definition is not None
