"""The study YAML's statistical plan: read by the loader into a typed plan, each wrong reference
refused with its file, line and path."""

from __future__ import annotations

from pathlib import Path

import pytest

from carnet.reports.derive import analysis_settings
from carnet.studies.definition import study_text_validate
from carnet.studies.definition.statistical_plan import ItemReference

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "studies"
MAINTAIN = (EXAMPLES / "maintain-crc.yaml").read_text(encoding="utf-8")


def test_both_demo_studies_declare_a_plan_the_loader_reads() -> None:
    phase3, findings = study_text_validate(MAINTAIN, name="maintain-crc.yaml")
    assert phase3 is not None, findings
    plan = phase3.statistical_plan()
    assert plan.method == "group-sequential"
    assert plan.primary_endpoint == "progression_free_survival"
    assert plan.endpoints.death == ItemReference("survival", "death_date")
    assert plan.endpoints.assessments is not None
    assert plan.endpoints.assessments.category("4") == "PD"
    assert plan.strata == ("strat_ecog",)
    assert plan.design["information_fractions"] == [0.5, 1]
    settings = analysis_settings(plan)
    assert settings.reference_arm == "placebo"
    assert settings.response.confirmation is False
    phase2, findings = study_text_validate(
        (EXAMPLES / "simon-phase2.yaml").read_text(encoding="utf-8"), name="simon-phase2.yaml"
    )
    assert phase2 is not None, findings
    assert phase2.statistical_plan().design["stage_1"] == [1, 10]
    assert analysis_settings(phase2.statistical_plan()).response.confirmation is True


def errors_of(text: str) -> list[str]:
    definition, findings = study_text_validate(text, name="maintain-crc.yaml")
    assert definition is None
    return [str(f) for f in findings if f.severity == "error"]


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "death: survival.death_date",
            "death: survival.death_day",
            "statistical_plan.endpoints.death: the form 'survival' has no item 'death_day' "
            "(did you mean 'death_date'?).",
        ),
        (
            "death: survival.death_date",
            "death: survival.surv_status",
            "statistical_plan.endpoints.death: survival.surv_status is a single_choice item; it "
            "must be date or datetime or partial_date.",
        ),
        (
            "reference_arm: placebo",
            "reference_arm: control",
            "statistical_plan.settings.reference_arm: 'control' is not an arm of the study "
            "(experimental, placebo).",
        ),
        (
            "discontinued: {item: ae_action, codes: [4]}",
            "discontinued: {item: ae_action, codes: [7]}",
            "statistical_plan.endpoints.adverse_events.discontinued.codes[0]: 7 is not a code of "
            "ae_action",
        ),
        (
            "strata: [strat_ecog]",
            "strata: [weight]",
            "statistical_plan.strata[0]: 'weight' is a decimal item; it must be single_choice.",
        ),
        (
            "interval_transform: log-log",
            "interval_transform: logit",
            "statistical_plan.settings.interval_transform",
        ),
    ],
)
def test_a_wrong_reference_is_refused_where_it_is_written(
    old: str, new: str, expected: str
) -> None:
    assert MAINTAIN.count(old) == 1
    line = MAINTAIN[: MAINTAIN.index(old)].count("\n") + 1
    errors = errors_of(MAINTAIN.replace(old, new))
    assert any(expected in error and f"maintain-crc.yaml:{line}:" in error for error in errors), (
        errors
    )


def test_the_design_calculators_plan_is_one_the_loader_reads() -> None:
    import yaml
    from jsonschema import Draft202012Validator

    from carnet.reports.design import (
        design_ahern,
        design_proportions,
        design_sequential,
        design_simon,
        design_survival,
    )
    from carnet.studies.definition.validation import study_schema

    defs = study_schema()["$defs"]
    validator = Draft202012Validator({"$defs": defs, "$ref": "#/$defs/statistical_plan"})
    results = [
        design_simon(p0=0.1, p1=0.3, alpha=0.05, power=0.8),
        design_ahern(p0=0.05, p1=0.2, alpha=0.05, power=0.8),
        design_survival(hazard_ratio=0.7, alpha=0.05, power=0.8, allocation=0.5),
        design_proportions(p_control=0.5, p_experimental=0.7, alpha=0.05, power=0.8),
        design_sequential(information_fractions=[0.5, 1.0], futility="obrien-fleming"),
    ]
    for result in results:
        plan = yaml.safe_load(result.yaml)["design"]["statistical_plan"]
        assert [e.message for e in validator.iter_errors(plan)] == [], result.calculator
