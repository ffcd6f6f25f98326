"""CTCAE v5.0 grades of laboratory values (Django-free).

The thresholds are those of the Common Terminology Criteria for Adverse Events v5.0 (US NCI,
27 November 2017), "Investigations" and "Metabolism and nutrition disorders" and "Blood and
lymphatic system disorders" (anemia). Only the part of a grade that a laboratory value decides
is graded here: where CTCAE adds a clinical condition (hospitalisation, symptoms, transfusion)
the value's grade is the lowest grade its range allows, and a grade CTCAE defines by clinical
consequences only (grade 4 anemia, grade 4 hypoalbuminemia…) is never reached from a value.

How the published wording reads here:
- "<LLN - 1500/mm³" (grade 1) holds for LLN > value >= 1500; "<1500 - 1000" (grade 2) for
  1500 > value >= 1000; a value is graded at the highest grade whose bound it passes.
- ">ULN - 3.0 x ULN" (grade 1) holds for ULN < value <= 3.0 x ULN, and so on upwards.
- Terms with a baseline variant (ALT, AST, bilirubin, alkaline phosphatase, GGT) use the
  "baseline was abnormal" column when the subject's baseline value is above the ULN: the bounds
  are then multiples of the baseline. Where CTCAE writes the lowest bound without ">" ("1.5 -
  3.0 x baseline" for ALT), the bound itself belongs to the grade.
- Creatinine increased is graded against the ULN and, when a baseline is given, also against
  the baseline (">1.5 - 3.0 x baseline" is grade 2, ">3.0 x baseline" grade 3); the higher wins.
- Where CTCAE publishes the thresholds in more than one unit (calcium in mg/dL and mmol/L,
  haemoglobin in g/dL, g/L and mmol/L), a value in one of those units is graded against the
  thresholds published in it (they are rounded differently); any other unit is converted to the
  term's first unit.
- A grade that needs a limit (ULN, LLN or baseline) that is not known is None, unless the value
  already passes a bound that needs none (a potassium of 7.2 mmol/L is grade 4 whatever the ULN).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from carnet.core.lab_units import conversion_factor, unit_name

INCREASED: Literal["increased"] = "increased"
DECREASED: Literal["decreased"] = "decreased"


@dataclass(frozen=True)
class Bound:
    """The bound a value must pass to reach ``grade``: an absolute value (in the bound set's
    unit), or a multiple of the ULN, the LLN or the subject's baseline."""

    grade: int
    value: float | None = None
    uln: float | None = None
    lln: float | None = None
    baseline: float | None = None
    # The bound belongs to the grade (">=" or "<=") instead of being passed strictly.
    inclusive: bool = False

    def threshold(
        self, *, uln: float | None, lln: float | None, baseline: float | None
    ) -> float | None:
        """Return the bound in the value's unit, or None when the limit it needs is unknown."""
        if self.value is not None:
            return self.value
        if self.uln is not None:
            return None if uln is None else self.uln * uln
        if self.lln is not None:
            return None if lln is None else self.lln * lln
        assert self.baseline is not None
        return None if baseline is None else self.baseline * baseline


def _abs(grade: int, value: float) -> Bound:
    return Bound(grade=grade, value=value)


def _uln(grade: int, times: float = 1.0) -> Bound:
    return Bound(grade=grade, uln=times)


def _lln(grade: int) -> Bound:
    return Bound(grade=grade, lln=1.0)


def _base(grade: int, times: float, *, inclusive: bool = False) -> Bound:
    return Bound(grade=grade, baseline=times, inclusive=inclusive)


@dataclass(frozen=True)
class Term:
    """One CTCAE v5.0 term graded from a laboratory value."""

    code: str
    name: str  # CTCAE's own wording
    analyte: str
    direction: Literal["increased", "decreased"]
    # The bounds, per unit the thresholds are published in (the first is the term's unit). A
    # term graded on multiples of the ULN only has one set under the unit "".
    bounds: dict[str, tuple[Bound, ...]]
    # "If baseline was abnormal": the bounds as multiples of the baseline.
    abnormal_baseline: tuple[Bound, ...] = ()
    # Creatinine: graded against the baseline too, the higher grade wins.
    against_baseline: tuple[Bound, ...] = ()
    highest: int = 4  # the highest grade a value alone can reach
    notes: str = ""
    units: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "units", tuple(unit for unit in self.bounds if unit))

    @property
    def unit(self) -> str:
        """The unit of the term's absolute thresholds ("" when it has none)."""
        return self.units[0] if self.units else ""


def _ratio_term(code: str, name: str, analyte: str, g2: float, g3: float, g4: float) -> Term:
    return Term(
        code=code,
        name=name,
        analyte=analyte,
        direction=INCREASED,
        bounds={"": (_uln(4, g4), _uln(3, g3), _uln(2, g2), _uln(1))},
    )


def _liver(
    code: str,
    name: str,
    analyte: str,
    uln: tuple[float, float, float],
    baseline: tuple[tuple[float, bool], float, float, float],
) -> Term:
    """A liver test: multiples of the ULN, or of an abnormal baseline."""
    (g1, g1_inclusive), g2, g3, g4 = baseline
    return Term(
        code=code,
        name=name,
        analyte=analyte,
        direction=INCREASED,
        bounds={"": (_uln(4, uln[2]), _uln(3, uln[1]), _uln(2, uln[0]), _uln(1))},
        abnormal_baseline=(
            _base(4, g4),
            _base(3, g3),
            _base(2, g2),
            _base(1, g1, inclusive=g1_inclusive),
        ),
    )


TERMS: tuple[Term, ...] = (
    # --- Blood and lymphatic system disorders, Investigations: cell counts --------------------
    Term(
        code="anemia",
        name="Anemia",
        analyte="haemoglobin",
        direction=DECREASED,
        bounds={
            "g/L": (_abs(3, 80), _abs(2, 100), _lln(1)),
            "g/dL": (_abs(3, 8.0), _abs(2, 10.0), _lln(1)),
            "mmol/L": (_abs(3, 4.9), _abs(2, 6.2), _lln(1)),
        },
        highest=3,
        notes="Grade 3 also reads 'transfusion indicated'; grade 4 is clinical only.",
    ),
    Term(
        code="neutrophil_count_decreased",
        name="Neutrophil count decreased",
        analyte="neutrophils",
        direction=DECREASED,
        bounds={"10^9/L": (_abs(4, 0.5), _abs(3, 1.0), _abs(2, 1.5), _lln(1))},
    ),
    Term(
        code="platelet_count_decreased",
        name="Platelet count decreased",
        analyte="platelets",
        direction=DECREASED,
        bounds={"10^9/L": (_abs(4, 25), _abs(3, 50), _abs(2, 75), _lln(1))},
    ),
    Term(
        code="lymphocyte_count_decreased",
        name="Lymphocyte count decreased",
        analyte="lymphocytes",
        direction=DECREASED,
        bounds={"10^9/L": (_abs(4, 0.2), _abs(3, 0.5), _abs(2, 0.8), _lln(1))},
    ),
    Term(
        code="lymphocyte_count_increased",
        name="Lymphocyte count increased",
        analyte="lymphocytes",
        direction=INCREASED,
        # CTCAE defines no grade 1 and no grade 4.
        bounds={"10^9/L": (_abs(3, 20.0), _abs(2, 4.0))},
        highest=3,
    ),
    Term(
        code="white_blood_cell_decreased",
        name="White blood cell decreased",
        analyte="leukocytes",
        direction=DECREASED,
        bounds={"10^9/L": (_abs(4, 1.0), _abs(3, 2.0), _abs(2, 3.0), _lln(1))},
    ),
    # --- Investigations: kidney and liver ----------------------------------------------------
    Term(
        code="creatinine_increased",
        name="Creatinine increased",
        analyte="creatinine",
        direction=INCREASED,
        bounds={"": (_uln(4, 6.0), _uln(3, 3.0), _uln(2, 1.5), _uln(1))},
        against_baseline=(_base(3, 3.0), _base(2, 1.5)),
    ),
    _liver(
        "blood_bilirubin_increased",
        "Blood bilirubin increased",
        "bilirubin",
        uln=(1.5, 3.0, 10.0),
        baseline=((1.0, False), 1.5, 3.0, 10.0),
    ),
    _liver(
        "alanine_aminotransferase_increased",
        "Alanine aminotransferase increased",
        "alt",
        uln=(3.0, 5.0, 20.0),
        baseline=((1.5, True), 3.0, 5.0, 20.0),
    ),
    _liver(
        "aspartate_aminotransferase_increased",
        "Aspartate aminotransferase increased",
        "ast",
        uln=(3.0, 5.0, 20.0),
        baseline=((1.5, True), 3.0, 5.0, 20.0),
    ),
    _liver(
        "alkaline_phosphatase_increased",
        "Alkaline phosphatase increased",
        "alp",
        uln=(2.5, 5.0, 20.0),
        baseline=((2.0, True), 2.5, 5.0, 20.0),
    ),
    _liver(
        "ggt_increased",
        "GGT increased",
        "ggt",
        uln=(2.5, 5.0, 20.0),
        baseline=((2.0, True), 2.5, 5.0, 20.0),
    ),
    _ratio_term("cpk_increased", "CPK increased", "ck", 2.5, 5.0, 10.0),
    Term(
        code="inr_increased",
        name="INR increased",
        analyte="inr",
        direction=INCREASED,
        # The variant for patients on anticoagulation (multiples of baseline) is not graded.
        bounds={"ratio": (_abs(3, 2.5), _abs(2, 1.5), _abs(1, 1.2))},
        highest=3,
    ),
    # --- Metabolism and nutrition disorders ---------------------------------------------------
    Term(
        code="hyperkalemia",
        name="Hyperkalemia",
        analyte="potassium",
        direction=INCREASED,
        bounds={"mmol/L": (_abs(4, 7.0), _abs(3, 6.0), _abs(2, 5.5), _uln(1))},
    ),
    Term(
        code="hypokalemia",
        name="Hypokalemia",
        analyte="potassium",
        direction=DECREASED,
        # Grade 2 is grade 1's range with symptoms: a value alone reads grade 1.
        bounds={"mmol/L": (_abs(4, 2.5), _abs(3, 3.0), _lln(1))},
        notes="Grade 2 is '<LLN - 3.0 mmol/L; symptomatic; intervention indicated'.",
    ),
    Term(
        code="hypernatremia",
        name="Hypernatremia",
        analyte="sodium",
        direction=INCREASED,
        bounds={"mmol/L": (_abs(4, 160), _abs(3, 155), _abs(2, 150), _uln(1))},
    ),
    Term(
        code="hyponatremia",
        name="Hyponatremia",
        analyte="sodium",
        direction=DECREASED,
        # "125-129 mmol/L and asymptomatic" is grade 2 (grade 3 when symptomatic);
        # "120-124 mmol/L regardless of symptoms" is grade 3.
        bounds={"mmol/L": (_abs(4, 120), _abs(3, 125), _abs(2, 130), _lln(1))},
    ),
    Term(
        code="hypercalcemia",
        name="Hypercalcemia",
        analyte="calcium",
        direction=INCREASED,
        bounds={
            "mmol/L": (_abs(4, 3.4), _abs(3, 3.1), _abs(2, 2.9), _uln(1)),
            "mg/dL": (_abs(4, 13.5), _abs(3, 12.5), _abs(2, 11.5), _uln(1)),
        },
        notes="Corrected serum calcium (see corrected_calcium).",
    ),
    Term(
        code="hypocalcemia",
        name="Hypocalcemia",
        analyte="calcium",
        direction=DECREASED,
        bounds={
            "mmol/L": (_abs(4, 1.5), _abs(3, 1.75), _abs(2, 2.0), _lln(1)),
            "mg/dL": (_abs(4, 6.0), _abs(3, 7.0), _abs(2, 8.0), _lln(1)),
        },
        notes="Corrected serum calcium (see corrected_calcium).",
    ),
    Term(
        code="hypercalcemia_ionised",
        name="Hypercalcemia (ionized calcium)",
        analyte="ionised_calcium",
        direction=INCREASED,
        bounds={"mmol/L": (_abs(4, 1.8), _abs(3, 1.6), _abs(2, 1.5), _uln(1))},
    ),
    Term(
        code="hypocalcemia_ionised",
        name="Hypocalcemia (ionized calcium)",
        analyte="ionised_calcium",
        direction=DECREASED,
        bounds={"mmol/L": (_abs(4, 0.8), _abs(3, 0.9), _abs(2, 1.0), _lln(1))},
    ),
    Term(
        code="hypoalbuminemia",
        name="Hypoalbuminemia",
        analyte="albumin",
        direction=DECREASED,
        bounds={
            "g/L": (_abs(3, 20), _abs(2, 30), _lln(1)),
            "g/dL": (_abs(3, 2.0), _abs(2, 3.0), _lln(1)),
        },
        highest=3,
    ),
    Term(
        code="hypomagnesemia",
        name="Hypomagnesemia",
        analyte="magnesium",
        direction=DECREASED,
        bounds={
            "mmol/L": (_abs(4, 0.3), _abs(3, 0.4), _abs(2, 0.5), _lln(1)),
            "mg/dL": (_abs(4, 0.7), _abs(3, 0.9), _abs(2, 1.2), _lln(1)),
        },
    ),
    Term(
        code="hypermagnesemia",
        name="Hypermagnesemia",
        analyte="magnesium",
        direction=INCREASED,
        # CTCAE defines no grade 2.
        bounds={
            "mmol/L": (_abs(4, 3.30), _abs(3, 1.23), _uln(1)),
            "mg/dL": (_abs(4, 8.0), _abs(3, 3.0), _uln(1)),
        },
    ),
    Term(
        code="hypoglycemia",
        name="Hypoglycemia",
        analyte="glucose",
        direction=DECREASED,
        bounds={
            "mmol/L": (_abs(4, 1.7), _abs(3, 2.2), _abs(2, 3.0), _lln(1)),
            "mg/dL": (_abs(4, 30), _abs(3, 40), _abs(2, 55), _lln(1)),
        },
    ),
)

TERMS_BY_CODE: dict[str, Term] = {term.code: term for term in TERMS}


def terms_of(analyte: str) -> tuple[Term, ...]:
    """Return the terms graded from an analyte (potassium: hyperkalemia and hypokalemia)."""
    return tuple(term for term in TERMS if term.analyte == analyte)


ANALYTES: tuple[str, ...] = tuple(dict.fromkeys(term.analyte for term in TERMS))


class UnknownTerm(KeyError):
    """No CTCAE term of that code is graded here."""


def term_named(code: str) -> Term:
    """Return the term of a code ("neutrophil_count_decreased"); raise UnknownTerm."""
    try:
        return TERMS_BY_CODE[code]
    except KeyError:
        raise UnknownTerm(code) from None


def terms_named(name: str) -> tuple[Term, ...]:
    """Return the terms a rule names: one term by its code ("platelet_count_decreased"), or
    every term of an analyte ("potassium": hyperkalemia and hypokalemia); raise UnknownTerm."""
    if name in TERMS_BY_CODE:
        return (TERMS_BY_CODE[name],)
    found = terms_of(name)
    if not found:
        raise UnknownTerm(name)
    return found


def combined(grades: list[int | None]) -> int | None:
    """Return the grade of a value over several terms: the highest positive grade; else None
    when a term cannot tell; else 0 (as `analyte_grade`)."""
    positive = [grade for grade in grades if grade is not None and grade > 0]
    if positive:
        return max(positive)
    return None if any(grade is None for grade in grades) else 0


def bound_set(term: Term, unit: str) -> tuple[str, tuple[Bound, ...]]:
    """Return the unit a value in ``unit`` is graded in, and the bounds published in it."""
    if "" in term.bounds:
        return unit, term.bounds[""]
    name = unit_name(unit, analyte=term.analyte) if unit else term.unit
    if name in term.bounds:
        return name, term.bounds[name]
    return term.unit, term.bounds[term.unit]


def _passes(value: float, threshold: float, direction: str, inclusive: bool) -> bool:
    if direction == INCREASED:
        return value >= threshold if inclusive else value > threshold
    return value <= threshold if inclusive else value < threshold


def grade_on(
    value: float,
    bounds: tuple[Bound, ...],
    direction: str,
    *,
    uln: float | None,
    lln: float | None,
    baseline: float | None,
) -> int | None:
    """Return the highest grade whose bound the value passes (bounds from the highest grade
    down); None when a bound that could decide needs an unknown limit."""
    for bound in bounds:
        threshold = bound.threshold(uln=uln, lln=lln, baseline=baseline)
        if threshold is None:
            return None
        if _passes(value, threshold, direction, bound.inclusive):
            return bound.grade
    return 0


def grading_plan(term: Term, unit: str) -> tuple[tuple[Bound, ...], float]:
    """Return the bounds a value of ``term`` in ``unit`` is graded on, and the factor that
    turns the value (and its limits) into their unit; raise UnitError when it cannot."""
    graded_in, bounds = bound_set(term, unit)
    if unit and graded_in != unit_name(unit, analyte=term.analyte):
        return bounds, conversion_factor(term.analyte, unit, graded_in)
    return bounds, 1.0


def grade_with(
    term: Term,
    bounds: tuple[Bound, ...],
    value: float,
    *,
    uln: float | None,
    lln: float | None,
    baseline: float | None,
) -> int | None:
    """Return the grade of a value already in the unit of ``bounds`` (see `grading_plan`)."""
    if term.abnormal_baseline and baseline is not None:
        if uln is None:
            return None
        if baseline > uln:
            return grade_on(
                value, term.abnormal_baseline, term.direction, uln=uln, lln=lln, baseline=baseline
            )
    grade = grade_on(value, bounds, term.direction, uln=uln, lln=lln, baseline=baseline)
    if term.against_baseline and baseline is not None and grade is not None:
        by_baseline = grade_on(
            value, term.against_baseline, term.direction, uln=uln, lln=lln, baseline=baseline
        )
        grade = max(grade, by_baseline or 0)
    return grade


def ctcae_grade(
    term: Term | str,
    value: float,
    *,
    unit: str = "",
    uln: float | None = None,
    lln: float | None = None,
    baseline: float | None = None,
) -> int | None:
    """Return the CTCAE v5.0 grade (0 to 4) of a laboratory value for one term.

    ``uln``, ``lln`` and ``baseline`` are in the value's ``unit``. The unit may be left out for a
    term graded on multiples of the ULN, or when the value is already in the term's unit. None
    when a limit the grade needs is unknown.
    """
    term = term if isinstance(term, Term) else term_named(term)
    bounds, factor = grading_plan(term, unit)
    if factor != 1.0:

        def change(amount: float | None) -> float | None:
            return None if amount is None else amount * factor

        value = value * factor
        uln, lln, baseline = change(uln), change(lln), change(baseline)
    return grade_with(term, bounds, value, uln=uln, lln=lln, baseline=baseline)


def analyte_grade(
    analyte: str,
    value: float,
    *,
    unit: str = "",
    uln: float | None = None,
    lln: float | None = None,
    baseline: float | None = None,
) -> tuple[int | None, Term | None]:
    """Return the grade of a value over every term of its analyte, with the term that gives
    it: a potassium above the ULN grades as hyperkalemia, below the LLN as hypokalemia (with
    limits that make both apply, the higher grade). A grade of 0 needs every term to say 0; a
    term that cannot tell makes the grade None."""
    unknown = False
    best: tuple[int, Term | None] = (0, None)
    for term in terms_of(analyte):
        grade = ctcae_grade(term, value, unit=unit, uln=uln, lln=lln, baseline=baseline)
        if grade is None:
            unknown = True
        elif grade > best[0]:
            best = (grade, term)
    if best[0] > 0:
        return best
    return (None, None) if unknown else (0, None)


def corrected_calcium(calcium: float, albumin: float, *, unit: str = "mmol/L") -> float:
    """Return the serum calcium corrected for albumin (Payne): calcium + 0.02 × (40 − albumin
    g/L) in mmol/L, or calcium + 0.8 × (4 − albumin g/dL) in mg/dL."""
    if unit_name(unit, analyte="calcium") == "mg/dL":
        return calcium + 0.8 * (4.0 - albumin)
    return calcium + 0.02 * (40.0 - albumin)
