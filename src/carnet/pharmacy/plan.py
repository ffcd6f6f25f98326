"""The study's pharmacy plan (`design.pharmacy` of the study YAML), typed.

The YAML says which products the study uses, how the manufacturer packs them (units per kit),
which events dispense what, and the resupply thresholds. The validation of the study file has
already checked its structure and meaning (products unique, events of the study, products
named); this module only reads it. A kit's content is one of the study's arm names.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from carnet.studies.definition.model import Label, StudyDefinition
from carnet.studies.models import Study

KITS = "kits"
HOSPITAL_STOCK = "hospital_stock"
DEFAULT_MINIMUM_PER_CONTENT = 2
DEFAULT_HORIZON_WEEKS = 4


@dataclass(frozen=True)
class Product:
    """An investigational product: its code (unique in the study), label and how it is dosed."""

    code: str
    name: Label
    presentation: str = ""
    unit: str = ""
    storage: str = ""
    # Units of the dosing unit per kit (kits mode); None in hospital stock mode.
    per_kit: int | None = None


@dataclass(frozen=True)
class DispensingRule:
    """At ``event`` (an event name of the study), ``kits`` kits of ``product`` are dispensed."""

    event: str
    product: str
    kits: int = 1


@dataclass(frozen=True)
class Resupply:
    """Per site and per kit content (arm): the least stock kept, and how far ahead needs are
    counted from the scheduled visits."""

    minimum_per_content: int = DEFAULT_MINIMUM_PER_CONTENT
    horizon_weeks: int = DEFAULT_HORIZON_WEEKS


@dataclass(frozen=True)
class Administration:
    """Where the casebook records each dose of ``product`` given: the form, its items holding
    the dose and the day, and the protocol dose of one administration, fixed (``planned_dose``)
    or per kg of the weight item recorded at the same visit (``planned_per_kg``). With
    ``every_days`` (the cycle's length) the dose intensity is per day of treatment; without it,
    per administration received."""

    product: str
    form: str
    dose: str
    date: str
    unit: str = ""
    planned_dose: Decimal | None = None
    planned_per_kg: Decimal | None = None
    weight: str = ""
    every_days: int | None = None


@dataclass(frozen=True)
class PharmacyPlan:
    mode: str
    products: tuple[Product, ...]
    dispensing: tuple[DispensingRule, ...] = ()
    resupply: Resupply = Resupply()
    # What a kit may hold: the study's arm names, in the YAML's order.
    contents: tuple[str, ...] = ()
    # Where the casebook records the doses given (exposure); none: exposure from dispensing.
    administration: tuple[Administration, ...] = ()

    def administered(self, product: str) -> Administration | None:
        """Return where the casebook records the doses of ``product`` given, or None."""
        return next((a for a in self.administration if a.product == product), None)

    @property
    def kits(self) -> bool:
        """Return whether the study runs in kit mode (numbered kits from the manufacturer)."""
        return self.mode == KITS

    def product(self, code: str) -> Product:
        """Return the product of this code; KeyError when the study has none."""
        for product in self.products:
            if product.code == code:
                return product
        raise KeyError(code)

    def product_codes(self) -> tuple[str, ...]:
        return tuple(product.code for product in self.products)

    def dispensed_at(self, event: str) -> tuple[DispensingRule, ...]:
        """Return what the event dispenses (empty when it dispenses nothing)."""
        return tuple(rule for rule in self.dispensing if rule.event == event)

    @property
    def events(self) -> frozenset[str]:
        """Return the events that dispense something."""
        return frozenset(rule.event for rule in self.dispensing)


def _label(value: Any) -> Label:
    if isinstance(value, str):
        return Label(value, value)
    if isinstance(value, dict):
        return Label(value.get("en", ""), value.get("fr", ""))
    return Label()


def _decimal(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def _administration(data: dict[str, Any]) -> Administration:
    return Administration(
        product=data["product"],
        form=data["form"],
        dose=data["dose"],
        date=data["date"],
        unit=data.get("unit", ""),
        planned_dose=_decimal(data.get("planned_dose")),
        planned_per_kg=_decimal(data.get("planned_per_kg")),
        weight=data.get("weight", ""),
        every_days=data.get("every_days"),
    )


def plan_from_definition(definition: StudyDefinition) -> PharmacyPlan | None:
    """Return the pharmacy plan of a (validated) study definition; None when it has none."""
    data = definition.design.get("pharmacy")
    if not data:
        return None
    resupply = data.get("resupply") or {}
    return PharmacyPlan(
        mode=data.get("mode", KITS),
        products=tuple(
            Product(
                code=p["code"],
                name=_label(p.get("name", p["code"])),
                presentation=p.get("presentation", ""),
                unit=p.get("unit", ""),
                storage=p.get("storage", ""),
                per_kit=p.get("per_kit"),
            )
            for p in data.get("products", ())
        ),
        dispensing=tuple(
            DispensingRule(event=d["event"], product=d["product"], kits=d.get("kits", 1))
            for d in data.get("dispensing", ())
        ),
        resupply=Resupply(
            minimum_per_content=resupply.get("minimum_per_content", DEFAULT_MINIMUM_PER_CONTENT),
            horizon_weeks=resupply.get("horizon_weeks", DEFAULT_HORIZON_WEEKS),
        ),
        contents=tuple(arm.name for arm in definition.arms),
        administration=tuple(_administration(a) for a in data.get("administration", ())),
    )


def pharmacy_plan(study: Study) -> PharmacyPlan | None:
    """Return the pharmacy plan of the study's current version; None when the study has no
    published version or its design has no ``pharmacy`` section."""
    if study.current_version is None:
        return None
    return plan_from_definition(study.current_version.parsed())
