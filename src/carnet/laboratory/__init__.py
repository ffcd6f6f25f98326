"""Laboratory values: normal ranges per site or laboratory, unit conversion, L/H flags and
CTCAE v5 grades.

The pure part (no Django) is what rules and other apps use: `ctcae_grade` and `analyte_grade`
grade a value, `convert` changes its unit."""

from carnet.core.ctcae import TERMS, Term, UnknownTerm, analyte_grade, ctcae_grade
from carnet.core.lab_units import UnitError, convert

__all__ = [
    "TERMS",
    "Term",
    "UnitError",
    "UnknownTerm",
    "analyte_grade",
    "convert",
    "ctcae_grade",
]
