"""A study definition as typed, immutable objects: what the rest of Carnet reads.

Stored as JSON in a study version and built by one builder, `from_json` (`to_json` / `from_json`
round-trip exactly); `carnet.studies.definition.loading` writes a validated YAML file out in that
stored form first. Compared by `diff`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from carnet.studies.definition.statistical_plan import StatisticalPlan

ITEM_TYPES = (
    "text",
    "integer",
    "decimal",
    "date",
    "partial_date",
    "datetime",
    "time",
    "boolean",
    "single_choice",
    "multiple_choice",
    "file",
    "calculated",
)
ANCHORS = ("inclusion", "randomisation", "end_of_treatment")
DEVIATION_CLASSES = ("major", "minor")
# The categories of protocol deviations every study has; a study may add its own
# (`deviation_categories:` in the study file).
STANDARD_DEVIATION_CATEGORIES = (
    ("eligibility", "Eligibility", "Éligibilité"),
    ("consent", "Consent", "Consentement"),
    ("visit_window", "Visit window", "Fenêtre de visite"),
    ("dosing", "Dosing", "Administration du traitement"),
    ("prohibited_medication", "Prohibited medication", "Traitement interdit"),
    ("assessment_missed", "Assessment missed", "Évaluation manquée"),
    ("other", "Other", "Autre"),
)
# What the inclusion wizard asks besides the eligibility answers; a study may write each into a
# casebook item (`registration:` in the study file).
REGISTRATION_QUESTIONS = (
    "sex",
    "age",
    "inclusion_date",
    "consent_date",
    "consent_version",
    "biobank_consent",
    "future_research_consent",
)
DEFAULT_MISSING_CODES = (
    ("ND", "Not done", "Non fait"),
    ("NA", "Not applicable", "Non applicable"),
    ("UNK", "Unknown", "Inconnu"),
)


@dataclass(frozen=True)
class Label:
    """A text in English and French (either may be empty when the study gives one language)."""

    en: str = ""
    fr: str = ""

    def text(self, language: str = "en") -> str:
        """Return the text in ``language``, falling back on the other one."""
        first, second = (self.fr, self.en) if language == "fr" else (self.en, self.fr)
        return first or second


@dataclass(frozen=True)
class Code:
    code: int | str
    label: Label


@dataclass(frozen=True)
class CodeList:
    oid: str
    name: str
    type: str
    items: tuple[Code, ...]

    def codes(self) -> tuple[int | str, ...]:
        return tuple(item.code for item in self.items)


@dataclass(frozen=True)
class Arm:
    oid: str
    name: str
    label: Label
    description: Label = Label()


@dataclass(frozen=True)
class Window:
    before: int = 0
    after: int = 0


@dataclass(frozen=True)
class Repeat:
    every_days: int
    start: str  # "previous" or "anchor" (YAML key `from`)
    max_occurrences: int | None = None


@dataclass(frozen=True)
class Schedule:
    """When an event is due: ``offset_days`` after its anchor, within ``window``."""

    anchor: str  # inclusion | randomisation | end_of_treatment | event:<name>
    offset_days: int = 0
    window: Window = Window()
    repeat: Repeat | None = None

    @property
    def anchor_event(self) -> str | None:
        """Return the event whose actual date anchors this one, if any."""
        return self.anchor.removeprefix("event:") if self.anchor.startswith("event:") else None


# Sample types a study may expect (biobank): fluids are centrifuged or not, tissues fixed or frozen.
FLUID_SAMPLE_TYPES = (
    "plasma",
    "serum",
    "whole_blood",
    "buffy_coat",
    "urine",
    "cerebrospinal_fluid",
    "saliva",
)
TISSUE_SAMPLE_TYPES = (
    "tumour_ffpe",
    "tumour_frozen",
    "normal_tissue_ffpe",
    "normal_tissue_frozen",
)


@dataclass(frozen=True)
class SampleProcessing:
    """The protocol's pre-analytical conditions of a sample (None: the protocol says nothing)."""

    centrifuge_within_minutes: int | None = None
    centrifuge_temperature: float | None = None
    centrifuge_g: int | None = None
    centrifuge_minutes: int | None = None
    second_centrifugation: bool = False
    freeze_within_minutes: int | None = None
    fixative: str = ""
    fix_within_minutes: int | None = None
    fixation_hours_min: float | None = None
    fixation_hours_max: float | None = None


@dataclass(frozen=True)
class ExpectedSample:
    """A sample the protocol expects at an event (``events[].samples`` of the study file)."""

    code: str
    type: str
    label: Label = Label()
    container: str = ""
    volume: float | None = None
    unit: str = ""
    aliquots: int = 1
    optional: bool = False
    processing: SampleProcessing = SampleProcessing()
    storage: float | None = None  # long-term storage temperature, °C
    destination: str = ""

    @property
    def tissue(self) -> bool:
        return self.type in TISSUE_SAMPLE_TYPES


@dataclass(frozen=True)
class Event:
    oid: str
    name: str
    label: Label
    forms: tuple[str, ...]
    schedule: Schedule | None = None
    unscheduled: bool = False
    samples: tuple[ExpectedSample, ...] = ()

    def sample(self, code: str) -> ExpectedSample | None:
        """Return the sample ``code`` the event expects, or None."""
        return next((sample for sample in self.samples if sample.code == code), None)

    @property
    def repeating(self) -> bool:
        return self.unscheduled or (self.schedule is not None and self.schedule.repeat is not None)


@dataclass(frozen=True)
class Item:
    oid: str
    name: str
    type: str
    label: Label
    sas_name: str = ""
    guideline: Label = Label()
    units: str = ""
    required: bool = False
    range_min: int | float | str | None = None
    range_max: int | float | str | None = None
    regex: str = ""
    max_length: int | None = None
    decimals: int | None = None
    code_list: str = ""
    result_type: str = ""
    calculation: str = ""
    show_if: str = ""
    flags: tuple[str, ...] = ()
    file_max_megabytes: int | None = None
    file_types: tuple[str, ...] = ()

    @property
    def identifying(self) -> bool:
        return "identifying" in self.flags

    @property
    def sdv_critical(self) -> bool:
        return "sdv_critical" in self.flags

    @property
    def arm_revealing(self) -> bool:
        return "arm_revealing" in self.flags


@dataclass(frozen=True)
class ItemGroup:
    oid: str
    name: str
    label: Label
    items: tuple[Item, ...]
    repeating: bool = False
    max_rows: int | None = None


@dataclass(frozen=True)
class Check:
    """An edit check: ``expression`` must hold; when it is false the message is shown."""

    name: str
    expression: str
    severity: str  # hard refuses the save, soft records a check result
    message: Label
    items: tuple[str, ...] = ()
    # A soft check that records a protocol deviation when it fires (the quality app's register).
    deviation: bool = False
    deviation_class: str = ""  # major or minor
    deviation_category: str = ""  # a name of the study's deviation categories


@dataclass(frozen=True)
class Form:
    oid: str
    name: str
    label: Label
    groups: tuple[ItemGroup, ...]
    guideline: Label = Label()
    repeating: bool = False
    not_done_allowed: bool = True
    checks: tuple[Check, ...] = ()

    def items(self) -> tuple[Item, ...]:
        return tuple(item for group in self.groups for item in group.items)


@dataclass(frozen=True)
class Criterion:
    """An eligibility criterion: an inclusion must hold, an exclusion must not."""

    name: str
    kind: str
    label: Label
    expression: str


@dataclass(frozen=True)
class RegistrationTarget:
    """The casebook item a registration answer is written into at inclusion.

    ``question`` is one of REGISTRATION_QUESTIONS, or an eligibility answer as the criteria read
    it (``screening.age``). ``codes`` translate the wizard's answer into the item's code
    (``male`` -> 1, ``yes`` -> 1); an answer without a code is not written.
    """

    question: str
    event: str
    form: str
    item: str
    codes: tuple[tuple[str, int | str], ...] = ()

    def code(self, answer: str) -> int | str | None:
        return dict(self.codes).get(answer)


@dataclass(frozen=True)
class Registry:
    eu_ct: str = ""
    id_rcb: str = ""
    nct: str = ""


@dataclass(frozen=True)
class MissingCode:
    code: str
    label: Label


@dataclass(frozen=True)
class RandomisationFactor:
    """A factor of a scheme: ``site`` or a single-choice item's name, with its weight."""

    name: str
    weight: float = 1.0


@dataclass(frozen=True)
class RandomisationScheme:
    """How subjects are allocated to arms (`design.randomisation`, validated).

    ``factors`` are the strata of ``blocks`` or the factors of ``minimisation``; ``ratio`` has one
    part per arm, in the order of the study's arms.
    """

    method: str  # simple | blocks | minimisation
    arms: tuple[str, ...]
    ratio: tuple[int, ...]
    factors: tuple[RandomisationFactor, ...] = ()
    block_sizes: tuple[int, ...] = ()
    imbalance: str = "range"
    p: float = 0.8

    @classmethod
    def from_design(cls, design: dict[str, Any], arms: tuple[str, ...]) -> RandomisationScheme:
        """Return the scheme of a validated ``design.randomisation`` mapping, with defaults."""
        factors = [
            RandomisationFactor(f) if isinstance(f, str) else RandomisationFactor(**f)
            for f in design.get("strata", design.get("factors", ()))
        ]
        return cls(
            method=design["method"],
            arms=arms,
            ratio=tuple(design.get("ratio") or (1,) * len(arms)),
            factors=tuple(factors),
            block_sizes=tuple(design.get("block_sizes", ())),
            imbalance=design.get("imbalance", "range"),
            p=float(design.get("p", 0.8)),
        )


@dataclass(frozen=True)
class StudyDefinition:
    identifier: str
    oid: str
    title: Label
    phase: str
    sponsor: str
    acronym: str = ""
    description: Label = Label()
    registry: Registry = Registry()
    design: dict[str, Any] = field(default_factory=dict)
    subject_identifier: str = "{site}-{seq:03}"
    missing_codes: tuple[MissingCode, ...] = ()
    not_done_reasons: tuple[MissingCode, ...] = ()
    two_factor_roles: tuple[str, ...] = ()
    signature_meanings: tuple[str, ...] = ()
    arms: tuple[Arm, ...] = ()
    code_lists: tuple[CodeList, ...] = ()
    events: tuple[Event, ...] = ()
    forms: tuple[Form, ...] = ()
    eligibility: tuple[Criterion, ...] = ()
    registration: tuple[RegistrationTarget, ...] = ()
    # The study's own deviation categories, added to the standard ones.
    deviation_categories: tuple[MissingCode, ...] = ()

    def deviation_category_labels(self) -> dict[str, Label]:
        """Return every deviation category of the study (standard ones first) with its label."""
        labels = {name: Label(en, fr) for name, en, fr in STANDARD_DEVIATION_CATEGORIES}
        for category in self.deviation_categories:
            labels[str(category.code)] = category.label
        return labels

    def statistical_plan(self) -> StatisticalPlan:
        """Return the study's statistical analysis plan (empty when the study states none)."""
        return StatisticalPlan.from_design(self.design)

    def randomisation_scheme(self) -> RandomisationScheme | None:
        """Return the study's randomisation scheme, or None when it declares none."""
        scheme = self.design.get("randomisation")
        if not scheme:
            return None
        return RandomisationScheme.from_design(scheme, tuple(arm.name for arm in self.arms))

    # Lookups by name; definitions are small, so a scan keeps the object plain data.
    def form(self, name: str) -> Form:
        return next(form for form in self.forms if form.name == name)

    def event(self, name: str) -> Event | None:
        """Return the event named ``name``, or None when the study has no such event."""
        return next((event for event in self.events if event.name == name), None)

    def code_list(self, name: str) -> CodeList:
        return next(code_list for code_list in self.code_lists if code_list.name == name)

    def items(self) -> list[tuple[Form, ItemGroup, Item]]:
        """Return every item with its form and group, in file order."""
        return [
            (form, group, item)
            for form in self.forms
            for group in form.groups
            for item in group.items
        ]

    def to_json(self) -> dict[str, Any]:
        """Return the definition as JSON-ready data (what a study version stores)."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StudyDefinition:
        """Return the definition stored by `to_json`."""
        return _build(cls, data)


def _label(data: dict[str, Any] | None) -> Label:
    return Label(**data) if data else Label()


def expected_sample(data: dict[str, Any]) -> ExpectedSample:
    """Return an expected sample from its stored JSON."""
    return ExpectedSample(
        **{
            **data,
            "label": _label(data["label"]),
            "processing": SampleProcessing(**data["processing"]),
        }
    )


def _build(cls: type[StudyDefinition], data: dict[str, Any]) -> StudyDefinition:
    def item(d: dict[str, Any]) -> Item:
        return Item(
            **{
                **d,
                "label": _label(d["label"]),
                "guideline": _label(d["guideline"]),
                "flags": tuple(d["flags"]),
                "file_types": tuple(d["file_types"]),
            }
        )

    def group(d: dict[str, Any]) -> ItemGroup:
        return ItemGroup(
            oid=d["oid"],
            name=d["name"],
            label=_label(d["label"]),
            items=tuple(item(i) for i in d["items"]),
            repeating=d["repeating"],
            max_rows=d["max_rows"],
        )

    def schedule(d: dict[str, Any] | None) -> Schedule | None:
        if d is None:
            return None
        repeat = Repeat(**d["repeat"]) if d["repeat"] else None
        return Schedule(
            anchor=d["anchor"],
            offset_days=d["offset_days"],
            window=Window(**d["window"]),
            repeat=repeat,
        )

    return cls(
        identifier=data["identifier"],
        oid=data["oid"],
        title=_label(data["title"]),
        phase=data["phase"],
        sponsor=data["sponsor"],
        acronym=data["acronym"],
        description=_label(data["description"]),
        registry=Registry(**data["registry"]),
        design=data["design"],
        subject_identifier=data["subject_identifier"],
        missing_codes=tuple(
            MissingCode(m["code"], _label(m["label"])) for m in data["missing_codes"]
        ),
        not_done_reasons=tuple(
            MissingCode(m["code"], _label(m["label"])) for m in data["not_done_reasons"]
        ),
        two_factor_roles=tuple(data.get("two_factor_roles", ())),
        signature_meanings=tuple(data.get("signature_meanings", ())),
        arms=tuple(
            Arm(a["oid"], a["name"], _label(a["label"]), _label(a["description"]))
            for a in data["arms"]
        ),
        code_lists=tuple(
            CodeList(
                c["oid"],
                c["name"],
                c["type"],
                tuple(Code(i["code"], _label(i["label"])) for i in c["items"]),
            )
            for c in data["code_lists"]
        ),
        events=tuple(
            Event(
                oid=e["oid"],
                name=e["name"],
                label=_label(e["label"]),
                forms=tuple(e["forms"]),
                schedule=schedule(e["schedule"]),
                unscheduled=e["unscheduled"],
                # Versions stored before samples existed have none.
                samples=tuple(expected_sample(s) for s in e.get("samples", ())),
            )
            for e in data["events"]
        ),
        forms=tuple(
            Form(
                oid=f["oid"],
                name=f["name"],
                label=_label(f["label"]),
                groups=tuple(group(g) for g in f["groups"]),
                guideline=_label(f["guideline"]),
                repeating=f["repeating"],
                not_done_allowed=f["not_done_allowed"],
                checks=tuple(
                    Check(
                        c["name"],
                        c["expression"],
                        c["severity"],
                        _label(c["message"]),
                        tuple(c["items"]),
                        # Versions stored before deviations existed have none.
                        c.get("deviation", False),
                        c.get("deviation_class", ""),
                        c.get("deviation_category", ""),
                    )
                    for c in f["checks"]
                ),
            )
            for f in data["forms"]
        ),
        eligibility=tuple(
            Criterion(c["name"], c["kind"], _label(c["label"]), c["expression"])
            for c in data["eligibility"]
        ),
        # Versions stored before registration mapping existed have none.
        registration=tuple(
            RegistrationTarget(
                r["question"],
                r["event"],
                r["form"],
                r["item"],
                tuple((str(answer), code) for answer, code in r["codes"]),
            )
            for r in data.get("registration", ())
        ),
        deviation_categories=tuple(
            MissingCode(m["code"], _label(m["label"])) for m in data.get("deviation_categories", ())
        ),
    )
