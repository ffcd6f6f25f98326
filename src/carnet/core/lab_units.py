"""Units of laboratory values and the conversions between them (Django-free).

A unit belongs to one dimension: a mass concentration (g/L), a molar concentration (mol/L), an
equivalent concentration (Eq/L), a cell count per volume (per litre), a catalytic activity (U/L)
or a plain number (INR). Within a dimension a conversion is a factor; between mass and molar
concentrations it takes the analyte's molar mass, and between molar and equivalent its valence.
Anything else (an unknown unit, mg/dL of an analyte whose molar mass is not here, cells to
grams) is refused with `UnitError`, which names the analyte and both units.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

MASS = "mass"  # grams per litre
MOLAR = "molar"  # moles per litre
EQUIVALENT = "equivalent"  # equivalents per litre
COUNT = "count"  # cells per litre
CATALYTIC = "catalytic"  # international units per litre
RATIO = "ratio"  # a plain number

# Each unit: its dimension and how many base units (g/L, mol/L, Eq/L, cells/L, U/L, 1) one holds.
_UNITS: dict[str, tuple[str, float]] = {
    "g/L": (MASS, 1.0),
    "g/dL": (MASS, 10.0),
    "mg/dL": (MASS, 1e-2),
    "mg/L": (MASS, 1e-3),
    "mol/L": (MOLAR, 1.0),
    "mmol/L": (MOLAR, 1e-3),
    "µmol/L": (MOLAR, 1e-6),
    "mEq/L": (EQUIVALENT, 1e-3),
    "10^9/L": (COUNT, 1e9),  # also G/L, 10^3/µL, 10^3/mm³
    "10^12/L": (COUNT, 1e12),  # also T/L, 10^6/µL (red cells)
    "/mm³": (COUNT, 1e6),  # 1 mm³ = 1 µL = 10^-6 L
    "U/L": (CATALYTIC, 1.0),
    "µkat/L": (CATALYTIC, 60.0),  # 1 µkat = 60 µmol/min = 60 U
    "ratio": (RATIO, 1.0),
}

# Spellings met in laboratory reports and CRFs, mapped to the names above.
_ALIASES: dict[str, str] = {
    "g/l": "g/L",
    "g/dl": "g/dL",
    "mg/dl": "mg/dL",
    "mg/l": "mg/L",
    "mol/l": "mol/L",
    "mmol/l": "mmol/L",
    "µmol/l": "µmol/L",
    "umol/l": "µmol/L",
    "meq/l": "mEq/L",
    "10^9/l": "10^9/L",
    "10*9/l": "10^9/L",
    "10e9/l": "10^9/L",
    "x10^9/l": "10^9/L",
    "g/l(cells)": "10^9/L",
    "giga/l": "10^9/L",
    "10^3/µl": "10^9/L",
    "10^3/ul": "10^9/L",
    "10^3/mm3": "10^9/L",
    "10^12/l": "10^12/L",
    "t/l": "10^12/L",
    "10^6/µl": "10^12/L",
    "/mm3": "/mm³",
    "/µl": "/mm³",
    "/ul": "/mm³",
    "cells/mm3": "/mm³",
    "cells/µl": "/mm³",
    "u/l": "U/L",
    "iu/l": "U/L",
    "ui/l": "U/L",
    "µkat/l": "µkat/L",
    "ukat/l": "µkat/L",
    "ratio": "ratio",
    "inr": "ratio",
    "": "ratio",
}

# Molar masses (g/mol) of the analytes whose values are reported both in mass and in moles.
# Haemoglobin in mmol/L counts the monomer (16 114.5 g/mol), as Dutch and Scandinavian labs do.
MOLAR_MASS: dict[str, float] = {
    "creatinine": 113.12,
    "bilirubin": 584.66,
    "glucose": 180.156,
    "calcium": 40.078,
    "ionised_calcium": 40.078,
    "magnesium": 24.305,
    "potassium": 39.098,
    "sodium": 22.990,
    "phosphate": 30.974,  # reported as phosphorus
    "urea": 60.06,
    "uric_acid": 168.11,
    "cholesterol": 386.65,
    "triglycerides": 885.7,  # as triolein, the convention of clinical laboratories
    "haemoglobin": 16114.5,
}

# Charge of the ion, for mEq/L.
VALENCE: dict[str, int] = {
    "sodium": 1,
    "potassium": 1,
    "calcium": 2,
    "ionised_calcium": 2,
    "magnesium": 2,
}

# Cell counts are "G/L" on French reports; for a count "G/L" is giga per litre, not grams.
COUNT_ANALYTES = frozenset(
    {"neutrophils", "platelets", "leukocytes", "lymphocytes", "eosinophils", "monocytes"}
)


@dataclass(frozen=True)
class UnitError(ValueError):
    """A value cannot be converted: the unit is unknown or the pair makes no sense for it."""

    analyte: str
    source: str
    target: str
    unknown: str = ""

    def __str__(self) -> str:
        if self.unknown:
            return f"{self.analyte}: the unit {self.unknown!r} is not one Carnet knows."
        return f"{self.analyte}: cannot convert from {self.source} to {self.target}."


def unit_name(unit: str, *, analyte: str = "") -> str:
    """Return the canonical spelling of a unit ("umol/l" → "µmol/L"); raise UnitError when
    it is not a known unit. "G/L" is a count for cell counts and grams otherwise."""
    # NFKC turns the micro sign into the Greek mu (made the micro sign again here) and "³"
    # into "3": every spelling of one unit folds to one key.
    folded = unicodedata.normalize("NFKC", unit.strip()).replace(" ", "")
    folded = folded.replace("\u03bc", "\u00b5").lower()
    if folded == "g/l" and analyte in COUNT_ANALYTES:
        return "10^9/L"
    name = _ALIASES.get(folded)
    if name is None:
        raise UnitError(analyte=analyte, source=unit, target="", unknown=unit)
    return name


def known_unit(unit: str, *, analyte: str = "") -> bool:
    """Return whether the unit is one Carnet can convert."""
    try:
        unit_name(unit, analyte=analyte)
    except UnitError:
        return False
    return True


def conversion_factor(analyte: str, source: str, target: str) -> float:
    """Return the factor that turns a value of ``analyte`` in ``source`` into ``target``.

    Raise UnitError when either unit is unknown or the conversion needs a molar mass or a
    valence this module does not hold."""
    source_name = unit_name(source, analyte=analyte)
    target_name = unit_name(target, analyte=analyte)
    source_dimension, source_scale = _UNITS[source_name]
    target_dimension, target_scale = _UNITS[target_name]
    # To the base unit of the source's dimension, then across dimensions, then down.
    factor = source_scale
    if source_dimension != target_dimension:
        factor *= _across(analyte, source_dimension, target_dimension, source, target)
    return factor / target_scale


def _across(analyte: str, source: str, target: str, source_unit: str, target_unit: str) -> float:
    """Return the factor from one base unit to another (g/L → mol/L, mol/L → Eq/L…)."""
    refused = UnitError(analyte=analyte, source=source_unit, target=target_unit)
    to_molar = {MOLAR: 1.0}
    if analyte in MOLAR_MASS:
        to_molar[MASS] = 1.0 / MOLAR_MASS[analyte]
    if analyte in VALENCE:
        to_molar[EQUIVALENT] = 1.0 / VALENCE[analyte]
    if source not in to_molar or target not in to_molar:
        raise refused
    return to_molar[source] / to_molar[target]


def convert(value: float, *, analyte: str, source: str, target: str) -> float:
    """Return ``value`` of ``analyte`` expressed in ``target`` instead of ``source``."""
    return value * conversion_factor(analyte, source, target)


# The other unit a value of an analyte is commonly reported in, shown beside it in listings.
ALTERNATE_UNITS: dict[str, tuple[str, str]] = {
    "creatinine": ("µmol/L", "mg/dL"),
    "bilirubin": ("µmol/L", "mg/dL"),
    "glucose": ("mmol/L", "mg/dL"),
    "calcium": ("mmol/L", "mg/dL"),
    "ionised_calcium": ("mmol/L", "mg/dL"),
    "magnesium": ("mmol/L", "mg/dL"),
    "uric_acid": ("µmol/L", "mg/dL"),
    "urea": ("mmol/L", "mg/dL"),
    "cholesterol": ("mmol/L", "mg/dL"),
    "triglycerides": ("mmol/L", "mg/dL"),
    "haemoglobin": ("g/dL", "g/L"),
    "albumin": ("g/L", "g/dL"),
    "neutrophils": ("10^9/L", "/mm³"),
    "platelets": ("10^9/L", "/mm³"),
    "leukocytes": ("10^9/L", "/mm³"),
    "lymphocytes": ("10^9/L", "/mm³"),
    "alt": ("U/L", "µkat/L"),
    "ast": ("U/L", "µkat/L"),
    "alp": ("U/L", "µkat/L"),
    "ggt": ("U/L", "µkat/L"),
}


def alternate_unit(analyte: str, unit: str) -> str:
    """Return the other common unit of a value in ``unit`` ("" when there is none)."""
    pair = ALTERNATE_UNITS.get(analyte)
    if pair is None or not known_unit(unit, analyte=analyte):
        return ""
    name = unit_name(unit, analyte=analyte)
    return pair[1] if name == pair[0] else pair[0]
