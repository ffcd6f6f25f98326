"""API of the reports app: the design calculator, for any signed-in person (no study data).

Each calculator answers a GET with its inputs as query parameters; every parameter has the
default of the page, so `/api/design/simon` alone gives the design of Simon's first example.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Query, Router, Schema

from carnet.reports.design import (
    DesignResult,
    design_ahern,
    design_proportions,
    design_sequential,
    design_simon,
    design_survival,
    fractions_from_text,
)

router = Router(tags=["design"])


class LabelledValue(Schema):
    label: str
    value: str


class DesignOut(Schema):
    calculator: str
    title: str
    values: list[LabelledValue]
    conventions: list[str]
    columns: list[str]
    rows: list[list[str]]
    yaml: str
    data: dict[str, Any]


def _out(result: DesignResult) -> DesignOut:
    return DesignOut(
        calculator=result.calculator,
        title=result.title,
        values=[LabelledValue(label=label, value=value) for label, value in result.values],
        conventions=result.conventions,
        columns=result.columns,
        rows=result.rows,
        yaml=result.yaml,
        data=result.data,
    )


class SimonIn(Schema):
    p0: float = 0.10
    p1: float = 0.30
    alpha: float = 0.05
    power: float = 0.80
    kind: str = "optimal"


class AhernIn(Schema):
    p0: float = 0.05
    p1: float = 0.20
    alpha: float = 0.05
    power: float = 0.80


class SurvivalIn(Schema):
    hazard_ratio: float = 0.75
    alpha: float = 0.05
    power: float = 0.80
    allocation: float = 0.5
    formula: str = "schoenfeld"
    control_median: float | None = None
    accrual_duration: float | None = None
    follow_up_duration: float | None = None
    dropout_rate: float = 0.0
    dropout_time: float | None = None


class ProportionsIn(Schema):
    p_control: float = 0.50
    p_experimental: float = 0.70
    alpha: float = 0.05
    power: float = 0.80
    continuity_correction: bool = False


class SequentialIn(Schema):
    information_fractions: str = "0.5, 1"
    alpha: float = 0.025
    power: float = 0.90
    efficacy: str = "obrien-fleming"
    efficacy_parameter: float | None = -4.0
    futility: str | None = None
    futility_parameter: float | None = -2.0
    binding: bool = False
    fixed_size: float | None = None


@router.get("/design/simon", response=DesignOut, summary="Simon two-stage design")
def simon(request: HttpRequest, query: Query[SimonIn]) -> DesignOut:
    return _out(design_simon(**query.dict()))


@router.get("/design/ahern", response=DesignOut, summary="A'Hern single-stage design")
def ahern(request: HttpRequest, query: Query[AhernIn]) -> DesignOut:
    return _out(design_ahern(**query.dict()))


@router.get(
    "/design/survival", response=DesignOut, summary="Events and patients for a log-rank test"
)
def survival(request: HttpRequest, query: Query[SurvivalIn]) -> DesignOut:
    return _out(design_survival(**query.dict()))


@router.get(
    "/design/proportions", response=DesignOut, summary="Patients to compare two proportions"
)
def proportions(request: HttpRequest, query: Query[ProportionsIn]) -> DesignOut:
    return _out(design_proportions(**query.dict()))


@router.get(
    "/design/sequential", response=DesignOut, summary="Group-sequential boundaries and inflation"
)
def sequential(request: HttpRequest, query: Query[SequentialIn]) -> DesignOut:
    values = query.dict()
    values["information_fractions"] = fractions_from_text(values["information_fractions"])
    return _out(design_sequential(**values))
