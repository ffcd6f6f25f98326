"""Unit conversions of laboratory values, with the molar masses clinical laboratories use."""

from __future__ import annotations

import pytest

from carnet.core.lab_units import UnitError, alternate_unit, convert, unit_name


@pytest.mark.parametrize(
    ("analyte", "value", "source", "target", "expected"),
    [
        # 1 mg/dL of creatinine (113.12 g/mol) is 88.4 µmol/L.
        ("creatinine", 1.0, "mg/dL", "µmol/L", 88.40),
        ("creatinine", 88.4, "umol/L", "mg/dL", 1.0),
        # Bilirubin (584.66 g/mol): 1 mg/dL is 17.1 µmol/L.
        ("bilirubin", 1.0, "mg/dL", "µmol/L", 17.10),
        # Glucose (180.16 g/mol): 1 mmol/L is 18.0 mg/dL.
        ("glucose", 5.5, "mmol/L", "mg/dL", 99.09),
        ("glucose", 1.0, "g/L", "mmol/L", 5.551),
        # Calcium (40.08 g/mol): 2.5 mmol/L is 10.0 mg/dL; in mEq/L, twice the mmol/L.
        ("calcium", 2.5, "mmol/L", "mg/dL", 10.02),
        ("calcium", 2.5, "mmol/L", "mEq/L", 5.0),
        ("magnesium", 1.0, "mmol/L", "mg/dL", 2.431),
        ("potassium", 4.0, "mEq/L", "mmol/L", 4.0),
        # Haemoglobin: g/dL to g/L, and to mmol/L of the monomer (10 g/dL = 6.21 mmol/L).
        ("haemoglobin", 10.0, "g/dL", "g/L", 100.0),
        ("haemoglobin", 10.0, "g/dL", "mmol/L", 6.206),
        ("albumin", 35, "g/L", "g/dL", 3.5),
        # Cell counts: 10^9/L, G/L, 10^3/µL and per mm³.
        ("neutrophils", 1.5, "10^9/L", "/mm³", 1500),
        ("neutrophils", 1.5, "G/L", "/mm3", 1500),
        ("platelets", 150_000, "/µL", "G/L", 150),
        ("leukocytes", 4.0, "10^3/µL", "10^9/L", 4.0),
        ("leukocytes", 4.0, "10*9/L", "cells/mm3", 4000),
        # Enzymes: 1 µkat/L is 60 U/L.
        ("alt", 1.0, "µkat/L", "U/L", 60.0),
        ("alt", 40, "IU/L", "U/L", 40),
    ],
)
def test_conversions(analyte: str, value: float, source: str, target: str, expected: float) -> None:
    assert convert(value, analyte=analyte, source=source, target=target) == pytest.approx(
        expected, rel=1e-3
    )


def test_spellings_of_one_unit_are_one_unit() -> None:
    # The micro sign and the Greek mu, µmol and umol, mm3 and mm³.
    assert {unit_name(u) for u in ("µmol/L", "μmol/L", "umol/l", "UMOL/L")} == {"µmol/L"}
    assert unit_name("G/L", analyte="platelets") == "10^9/L"
    # For anything but a cell count, G/L is grams per litre.
    assert unit_name("G/L", analyte="albumin") == "g/L"


@pytest.mark.parametrize(
    ("analyte", "source", "target", "message"),
    [
        (
            "creatinine",
            "mg/dL",
            "furlongs",
            "creatinine: the unit 'furlongs' is not one Carnet knows.",
        ),
        ("alt", "U/L", "mg/dL", "alt: cannot convert from U/L to mg/dL."),
        ("neutrophils", "G/L", "mmol/L", "neutrophils: cannot convert from G/L to mmol/L."),
        # Without a molar mass, mass and moles do not meet.
        ("cea", "mg/dL", "µmol/L", "cea: cannot convert from mg/dL to µmol/L."),
        # Equivalents need a valence.
        ("glucose", "mmol/L", "mEq/L", "glucose: cannot convert from mmol/L to mEq/L."),
    ],
)
def test_unknown_pairs_are_refused_with_a_clear_message(
    analyte: str, source: str, target: str, message: str
) -> None:
    with pytest.raises(UnitError) as refused:
        convert(1.0, analyte=analyte, source=source, target=target)
    assert str(refused.value) == message


def test_the_other_common_unit() -> None:
    assert alternate_unit("creatinine", "umol/L") == "mg/dL"
    assert alternate_unit("creatinine", "mg/dL") == "µmol/L"
    assert alternate_unit("neutrophils", "G/L") == "/mm³"
    assert alternate_unit("cea", "ng/mL") == ""
