"""The study's statistical analysis plan (`design.statistical_plan`), typed.

The study YAML states the design (as the design calculator writes it), the analysis settings
(interval transform, ties, censoring and response rules, treatment-emergent window) and where
each endpoint's facts live in the casebook; reports derive the analysis dataset from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ItemReference:
    """An item of the casebook, named ``form.item``."""

    form: str
    item: str

    @classmethod
    def parse(cls, text: str) -> ItemReference:
        form, item = text.split(".", 1)
        return cls(form, item)

    def __str__(self) -> str:
        return f"{self.form}.{self.item}"


@dataclass(frozen=True)
class CodedItem:
    """An item of a form whose listed codes mean "yes" (serious, related, led to stopping)."""

    item: str
    codes: tuple[str, ...]


@dataclass(frozen=True)
class Assessments:
    """Where tumour assessments are: their form, date, overall response and its codes."""

    form: str
    date: str
    response: str
    codes: dict[str, str]  # RECIST category (CR, PR, SD, PD, NE) -> code as text
    change: str | None = None  # percent change of the sum of diameters (waterfall)

    def category(self, code: object) -> str:
        """Return the RECIST category of a captured code (NE when it is none of them)."""
        text = "" if code is None else str(code)
        for category, value in self.codes.items():
            if value == text:
                return category
        return "NE"


@dataclass(frozen=True)
class AdverseEvents:
    """Where adverse events are: one form instance (or row) per event."""

    form: str
    term: str
    grade: str
    onset: str
    serious: CodedItem | None = None
    related: CodedItem | None = None
    discontinued: CodedItem | None = None


@dataclass(frozen=True)
class Endpoints:
    """Where each fact an endpoint rests on is captured."""

    death: ItemReference | None = None
    last_news: ItemReference | None = None
    new_therapy: ItemReference | None = None
    first_dose: ItemReference | None = None
    last_dose: ItemReference | None = None
    assessments: Assessments | None = None
    adverse_events: AdverseEvents | None = None

    def references(self) -> list[tuple[str, ItemReference]]:
        """Return every single-item reference with its key."""
        named = {
            "death": self.death,
            "last_news": self.last_news,
            "new_therapy": self.new_therapy,
            "first_dose": self.first_dose,
            "last_dose": self.last_dose,
        }
        return [(key, value) for key, value in named.items() if value is not None]


SETTINGS_KEYS = ("settings", "endpoints", "strata", "subgroups", "landmarks", "primary_endpoint")


@dataclass(frozen=True)
class StatisticalPlan:
    """The plan: design parameters, analysis settings, endpoints, strata, subgroups, landmarks."""

    method: str | None = None
    design: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    endpoints: Endpoints = Endpoints()
    primary_endpoint: str | None = None
    strata: tuple[str, ...] = ()
    subgroups: tuple[str, ...] = ()
    landmarks: tuple[int, ...] = ()

    @classmethod
    def from_design(cls, design: dict[str, Any]) -> StatisticalPlan:
        """Return the plan of a study's ``design`` section (an empty plan when it has none)."""
        data = design.get("statistical_plan") or {}
        return cls(
            method=data.get("method"),
            design={
                key: value
                for key, value in data.items()
                if key not in SETTINGS_KEYS and key != "method"
            },
            settings=dict(data.get("settings") or {}),
            endpoints=_endpoints(data.get("endpoints") or {}),
            primary_endpoint=data.get("primary_endpoint"),
            strata=tuple(data.get("strata") or ()),
            subgroups=tuple(data.get("subgroups") or ()),
            landmarks=tuple(int(day) for day in data.get("landmarks") or ()),
        )


def _coded(data: dict[str, Any] | None) -> CodedItem | None:
    if not data:
        return None
    return CodedItem(data["item"], tuple(str(code) for code in data["codes"]))


def _endpoints(data: dict[str, Any]) -> Endpoints:
    references = {
        key: ItemReference.parse(data[key])
        for key in ("death", "last_news", "new_therapy", "first_dose", "last_dose")
        if data.get(key)
    }
    assessments = None
    if data.get("assessments"):
        a = data["assessments"]
        assessments = Assessments(
            form=a["form"],
            date=a["date"],
            response=a["response"],
            codes={key: str(value) for key, value in a["codes"].items()},
            change=a.get("change"),
        )
    adverse = None
    if data.get("adverse_events"):
        e = data["adverse_events"]
        adverse = AdverseEvents(
            form=e["form"],
            term=e["term"],
            grade=e["grade"],
            onset=e["onset"],
            serious=_coded(e.get("serious")),
            related=_coded(e.get("related")),
            discontinued=_coded(e.get("discontinued")),
        )
    return Endpoints(**references, assessments=assessments, adverse_events=adverse)
