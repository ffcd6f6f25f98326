"""`design.pharmacy` of the study YAML: read into a plan; every mistake located and explained."""

from __future__ import annotations

from decimal import Decimal

from carnet.pharmacy.plan import plan_from_definition
from carnet.studies.definition import Finding, study_text_validate
from tests.pharmacy.conftest import MINI, PHARMACY, with_pharmacy
from tests.pharmacy.dispensing_world import DOSE_ITEM, KIT_ITEM_AFTER


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


# --- where the casebook records the doses given (exposure) ---------------------------------

ADMINISTRATION = """      administration:
        - product: capecitabine
          form: vitals
          dose: adm_dose
          date: vs_date
          planned_per_kg: 8
          weight: weight
          every_days: 14
"""


def with_administration(administration: str = ADMINISTRATION, dose_flags: str = "") -> str:
    """Return the pharmacy study with a dose item on the vitals form and ``administration``."""
    text = with_pharmacy(PHARMACY + administration)
    return text.replace(
        KIT_ITEM_AFTER, DOSE_ITEM.replace("units: mg,", f"units: mg,{dose_flags}") + KIT_ITEM_AFTER
    )


def test_the_administration_is_read_into_the_plan() -> None:
    definition, findings = study_text_validate(with_administration(), name="pharmacy.yaml")
    assert [f for f in findings if f.severity == "error"] == []
    assert definition is not None
    plan = plan_from_definition(definition)
    assert plan is not None
    given = plan.administered("capecitabine")
    assert given is not None
    assert (given.form, given.dose, given.date, given.weight) == (
        "vitals",
        "adm_dose",
        "vs_date",
        "weight",
    )
    assert (given.planned_per_kg, given.planned_dose, given.every_days) == (Decimal(8), None, 14)


def test_an_administration_naming_what_the_study_has_not_is_refused_at_its_place() -> None:
    text = with_administration(
        ADMINISTRATION.replace("form: vitals", "form: vital")
        .replace("product: capecitabine", "product: cape")
        .replace("weight: weight", "weight: mass")
    )
    found = {f.path: f.message for f in errors(text)}
    path = "study.design.pharmacy.administration[0]"
    assert "there is no form named 'vital' (did you mean 'vitals'?)." in found[f"{path}.form"]
    assert "there is no product 'cape'" in found[f"{path}.product"]
    assert "there is no item named 'mass'." in found[f"{path}.weight"]


def test_the_dose_must_be_a_number_and_the_date_a_date_of_the_form() -> None:
    text = with_administration(
        ADMINISTRATION.replace("dose: adm_dose", "dose: vs_date").replace(
            "date: vs_date", "date: diameter"
        )
    )
    found = {f.path: f for f in errors(text)}
    dose = found["study.design.pharmacy.administration[0].dose"]
    assert "the item 'vs_date' is of type 'date'; dose needs integer or decimal." in dose.message
    assert dose.line == text.splitlines().index("          dose: vs_date") + 1
    date = found["study.design.pharmacy.administration[0].date"]
    assert "the form 'vitals' has no item 'diameter'." in date.message


def test_the_protocol_dose_is_fixed_or_per_kg_with_a_weight() -> None:
    both = with_administration(ADMINISTRATION + "          planned_dose: 500\n")
    (finding,) = errors(both)
    assert finding.path == "study.design.pharmacy.administration[0]"
    assert "planned_dose or planned_per_kg (one of them)" in finding.message
    no_weight = with_administration(ADMINISTRATION.replace("          weight: weight\n", ""))
    (finding,) = errors(no_weight)
    assert "planned_per_kg needs weight" in finding.message


def test_an_administration_item_revealing_the_arm_is_refused() -> None:
    text = with_administration(dose_flags=" flags: [arm_revealing],")
    (finding,) = errors(text)
    assert finding.path == "study.design.pharmacy.administration[0].dose"
    assert "reveals the arm; exposure is exported blinded too." in finding.message


def test_a_product_administered_twice_is_refused() -> None:
    again = ADMINISTRATION.split("\n", 1)[1]
    (finding,) = errors(with_administration(ADMINISTRATION + again))
    assert finding.path == "study.design.pharmacy.administration[1].product"
    assert "the administration of product 'capecitabine' is already used" in finding.message
