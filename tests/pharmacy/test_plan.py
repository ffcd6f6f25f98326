"""`design.pharmacy` of the study YAML: read into a plan; every mistake located and explained."""

from __future__ import annotations

from carnet.pharmacy.plan import plan_from_definition
from carnet.studies.definition import Finding, study_text_validate
from tests.pharmacy.conftest import MINI, PHARMACY, with_pharmacy


def errors(text: str) -> list[Finding]:
    definition, findings = study_text_validate(text, name="pharmacy.yaml")
    assert definition is None, "the planted error was not refused"
    return [finding for finding in findings if finding.severity == "error"]


def test_a_pharmacy_section_is_read_into_the_plan() -> None:
    definition, findings = study_text_validate(with_pharmacy(), name="pharmacy.yaml")
    assert [f for f in findings if f.severity == "error"] == []
    assert definition is not None
    plan = plan_from_definition(definition)
    assert plan is not None
    assert plan.kits
    product = plan.product("capecitabine")
    assert (product.name.fr, product.unit, product.per_kit) == ("Capécitabine 500 mg", "tablet", 60)
    assert [(r.event, r.kits) for r in plan.dispensing] == [("baseline", 1), ("cycle", 1)]
    assert plan.dispensed_at("cycle")[0].product == "capecitabine"
    assert (plan.resupply.minimum_per_content, plan.resupply.horizon_weeks) == (3, 6)
    assert plan.contents == ("experimental", "placebo")


def test_a_study_without_pharmacy_has_no_plan() -> None:
    definition, _ = study_text_validate(MINI, name="mini.yaml")
    assert definition is not None
    assert plan_from_definition(definition) is None


def test_an_unknown_event_and_product_are_refused_at_their_place() -> None:
    text = with_pharmacy(
        PHARMACY.replace("{event: cycle, product: capecitabine}", "{event: cycel, product: capa}")
    )
    found = {f.path: f for f in errors(text)}
    event = found["study.design.pharmacy.dispensing[1].event"]
    assert "there is no event named 'cycel' (did you mean 'cycle'?)." in event.message
    assert event.line == text.splitlines().index("        - {event: cycel, product: capa}") + 1
    assert "there is no product 'capa'; the products are capecitabine." in (
        found["study.design.pharmacy.dispensing[1].product"].message
    )


def test_a_product_code_used_twice_is_refused() -> None:
    text = with_pharmacy(
        PHARMACY.replace(
            "      dispensing:",
            "        - {code: capecitabine, name: Again, per_kit: 30}\n      dispensing:",
        )
    )
    (finding,) = errors(text)
    assert finding.path == "study.design.pharmacy.products[1].code"
    assert "the product code 'capecitabine' is already used" in finding.message


def test_kits_mode_needs_units_per_kit_and_hospital_stock_refuses_them() -> None:
    (missing,) = errors(with_pharmacy(PHARMACY.replace("          per_kit: 60\n", "")))
    assert missing.path == "study.design.pharmacy.products[0]"
    assert "needs per_kit" in missing.message
    (refused,) = errors(with_pharmacy(PHARMACY.replace("mode: kits", "mode: hospital_stock")))
    assert refused.path == "study.design.pharmacy.products[0].per_kit"


def test_the_structure_is_checked_by_the_schema() -> None:
    found = errors(with_pharmacy(PHARMACY.replace("mode: kits", "mode: boxes")))
    assert any(f.path == "study.design.pharmacy.mode" for f in found)
