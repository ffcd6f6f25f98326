"""Validating a study file: its structure (the published JSON Schema), then its meaning.

Every problem becomes a located finding; nothing stops at the first one. The meaning checks run
once the structure is right, because they read names and types the structure guarantees.
"""

from __future__ import annotations

import difflib
import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError as SchemaError

from carnet.expressions import (
    ExpressionCheckError,
    ExpressionSyntaxError,
    Symbol,
    SymbolTable,
    ValueType,
    check,
    parse,
    references,
)
from carnet.studies.definition.findings import Finding, Path
from carnet.studies.definition.model import STANDARD_DEVIATION_CATEGORIES, TISSUE_SAMPLE_TYPES
from carnet.studies.definition.plan_validation import check_statistical_plan
from carnet.studies.definition.yaml_source import Source

SAS_NAME_LENGTH = 8
NUMERIC_TYPES = {"integer", "decimal"}
DATE_TYPES = {"date", "datetime"}
CHOICE_TYPES = {"single_choice", "multiple_choice"}
RESULT_TYPES = {
    "text": ValueType.TEXT,
    "integer": ValueType.INTEGER,
    "decimal": ValueType.DECIMAL,
    "date": ValueType.DATE,
    "boolean": ValueType.BOOLEAN,
}


@cache
def study_schema() -> dict[str, Any]:
    """Return the published JSON Schema of the study format."""
    text = (
        resources.files("carnet.studies.definition")
        .joinpath("study.schema.json")
        .read_text("utf-8")
    )
    return dict(json.loads(text))


@dataclass
class Checker:
    """Collects findings about one source."""

    source: Source
    findings: list[Finding] = field(default_factory=list)

    def error(self, path: Path, message: str) -> None:
        self.findings.append(self.source.finding("error", path, message))

    def warning(self, path: Path, message: str) -> None:
        self.findings.append(self.source.finding("warning", path, message))

    @property
    def failed(self) -> bool:
        return any(finding.severity == "error" for finding in self.findings)


# --- structure ------------------------------------------------------------------------------


def _schema_message(error: SchemaError) -> str:
    validator, value = error.validator, error.validator_value
    instance = error.instance
    if validator == "required":
        missing = [key for key in value if key not in instance]
        return f"the field {missing[0]!r} is missing." if missing else error.message
    if validator == "additionalProperties":
        allowed = list(error.schema.get("properties", {}))
        unknown = [key for key in instance if key not in allowed]
        hints = []
        for key in unknown:
            close = difflib.get_close_matches(key, allowed, n=1)
            hints.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        return f"unknown field {', '.join(hints)}; allowed here: {', '.join(allowed)}."
    if validator == "type":
        wanted = " or ".join(value) if isinstance(value, list) else value
        return f"{instance!r} must be {_a(str(wanted))}."
    if validator == "enum":
        return f"{instance!r} is not one of {', '.join(repr(v) for v in value)}."
    if validator == "const":
        return f"{instance!r} must be {value!r}."
    if validator == "pattern":
        if error.schema is study_schema()["$defs"]["name"] or value == "^[a-z][a-z0-9_]*$":
            return (
                f"{instance!r} is not a variable name: start with a lowercase letter, then "
                "lowercase letters, digits or _."
            )
        described = error.schema.get("description", "")
        return (
            f"{instance!r} does not have the expected form{': ' + described if described else '.'}"
        )
    if validator == "maxLength":
        return f"{instance!r} is longer than {value} characters."
    if validator in {"minLength", "minItems", "minProperties"}:
        return "must not be empty."
    if validator in {"minimum", "maximum", "exclusiveMinimum"}:
        bound = {"minimum": "at least", "maximum": "at most", "exclusiveMinimum": "more than"}
        return f"{instance!r} must be {bound[validator]} {value}."
    if validator == "oneOf":
        if any("weight" in option.get("properties", {}) for option in value):
            return "must be a name, or a mapping with 'name' and an optional 'weight'."
        return "must be a text, or a mapping with 'en' and/or 'fr' texts."
    if validator == "uniqueItems":
        return "lists the same value twice."
    return error.message


def _structure(checker: Checker) -> None:
    validator = Draft202012Validator(study_schema())
    for error in sorted(
        validator.iter_errors(checker.source.data), key=lambda e: list(map(str, e.path))
    ):
        checker.error(tuple(error.absolute_path), _schema_message(error))


# --- meaning ----------------------------------------------------------------------------------


def _label_languages(checker: Checker, path: Path, label: Any) -> None:
    if isinstance(label, dict) and len(label) == 1:
        missing = "French" if "en" in label else "English"
        checker.warning(
            path, f"no {missing} text; pages in {missing} will show the other language."
        )


def _labels(checker: Checker, node: Any, path: Path) -> None:
    """Warn about every label, guideline or message given in one language only."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in {"label", "title", "description", "guideline", "message", "primary_endpoint"}:
                _label_languages(checker, (*path, key), value)
            _labels(checker, value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            _labels(checker, value, (*path, index))


def _unique(checker: Checker, entries: list[tuple[Path, str]], what: str) -> None:
    first: dict[str, Path] = {}
    for path, value in entries:
        if value in first:
            line, _ = checker.source.locate(first[value])
            checker.error(path, f"{what} {value!r} is already used (line {line}).")
        else:
            first[value] = path


def _oid_default(prefix: str, name: str) -> str:
    return f"{prefix}.{name.upper()}"


def _walk_items(
    data: dict[str, Any],
) -> Iterator[tuple[Path, dict[str, Any], dict[str, Any], dict[str, Any]]]:
    for f, form in enumerate(data["forms"]):
        for g, group in enumerate(form["groups"]):
            for i, item in enumerate(group["items"]):
                yield ("forms", f, "groups", g, "items", i), form, group, item


def _assign_oids(data: dict[str, Any]) -> list[tuple[Path, str]]:
    """Give every element without an OID its derived one; return every OID with its place."""
    oids: list[tuple[Path, str]] = []

    def take(path: Path, element: dict[str, Any], prefix: str) -> None:
        element.setdefault("oid", _oid_default(prefix, element["name"]))
        oids.append(((*path, "oid"), element["oid"]))

    for kind, prefix in (("arms", "ARM"), ("code_lists", "CL"), ("events", "SE")):
        for index, element in enumerate(data.get(kind, [])):
            take((kind, index), element, prefix)
    for f, form in enumerate(data["forms"]):
        take(("forms", f), form, "F")
        for g, group in enumerate(form["groups"]):
            take(("forms", f, "groups", g), group, "IG")
            for i, item in enumerate(group["items"]):
                take(("forms", f, "groups", g, "items", i), item, "I")
    return oids


def _names(checker: Checker, data: dict[str, Any]) -> None:
    for kind, what in (
        ("arms", "arm"),
        ("code_lists", "code list"),
        ("events", "event"),
        ("forms", "form"),
        ("eligibility", "criterion"),
    ):
        _unique(
            checker,
            [((kind, i, "name"), e["name"]) for i, e in enumerate(data.get(kind, []))],
            f"the {what} name",
        )
    variables: list[tuple[Path, str]] = []
    sas_names: list[tuple[Path, str]] = []
    groups: list[tuple[Path, str]] = []
    for f, form in enumerate(data["forms"]):
        for g, group in enumerate(form["groups"]):
            groups.append((("forms", f, "groups", g, "name"), group["name"]))
        _unique(
            checker,
            [
                (("forms", f, "checks", c, "name"), check_["name"])
                for c, check_ in enumerate(form.get("checks", []))
            ],
            "the check name",
        )
    for path, _form, _group, item in _walk_items(data):
        variables.append(((*path, "name"), item["name"]))
        sas = item.get("sas_name", "")
        if sas:
            sas_names.append(((*path, "sas_name"), sas.upper()))
        elif len(item["name"]) > SAS_NAME_LENGTH:
            checker.warning(
                (*path, "name"),
                f"{item['name']!r} has {len(item['name'])} characters; SAS XPT v5 allows "
                f"{SAS_NAME_LENGTH}: add a sas_name or exports will shorten it.",
            )
    _unique(checker, variables, "the item name")
    _unique(checker, groups, "the item group name")
    _unique(checker, sas_names, "the SAS name")
    _unique(checker, _assign_oids(data), "the OID")
    codes = [m["code"] for m in data["study"].get("missing_codes", [])]
    for code, count in Counter(codes).items():
        if count > 1:
            checker.error(
                ("study", "missing_codes"), f"the missing-data code {code!r} is listed twice."
            )


def _code_lists(checker: Checker, data: dict[str, Any]) -> None:
    for c, code_list in enumerate(data.get("code_lists", [])):
        seen: set[Any] = set()
        for i, entry in enumerate(code_list["items"]):
            code, path = entry["code"], ("code_lists", c, "items", i, "code")
            if code_list["type"] == "integer" and not isinstance(code, int):
                checker.error(
                    path,
                    f"the code {code!r} is text but the code list {code_list['name']!r} "
                    "holds integers.",
                )
            elif code_list["type"] == "text" and not isinstance(code, str):
                checker.error(
                    path,
                    f"the code {code!r} is a number but the code list {code_list['name']!r} "
                    "holds text; "
                    f"quote it ('{code}').",
                )
            if code in seen:
                checker.error(path, f"the code {code!r} appears twice in {code_list['name']!r}.")
            seen.add(code)


def _range_value(item: dict[str, Any], value: Any) -> Any:
    if item["type"] in NUMERIC_TYPES:
        return value if isinstance(value, int | float) and not isinstance(value, bool) else None
    if item["type"] in DATE_TYPES and isinstance(value, str):
        return value if re.fullmatch(r"\d{4}-\d{2}-\d{2}([T ][\d:.]+)?", value) else None
    return None


def _a(word: str) -> str:
    return f"{'an' if word[0] in 'aeiou' else 'a'} {word}"


def _item(checker: Checker, path: Path, item: dict[str, Any], code_lists: dict[str, Any]) -> None:
    kind = item["type"]
    _item_code_list(checker, path, item, code_lists)
    _item_calculation(checker, path, item)
    if "range" in item:
        _item_range(checker, path, item)
    if "regex" in item:
        _item_regex(checker, path, item)
    for key, allowed in (
        ("max_length", {"text"}),
        ("decimals", {"decimal"}),
        ("file", {"file"}),
        ("units", NUMERIC_TYPES | {"calculated"}),
    ):
        if key in item and kind not in allowed:
            checker.error((*path, key), f"{key} does not apply to {_a(kind)} item.")
    if kind == "calculated" and item.get("required"):
        checker.warning(
            (*path, "required"),
            "a calculated item is computed, never entered: required has no effect.",
        )


def _item_code_list(
    checker: Checker, path: Path, item: dict[str, Any], code_lists: dict[str, Any]
) -> None:
    """Choices need a code list that exists; other items take none."""
    kind, name = item["type"], item["name"]
    if kind in CHOICE_TYPES:
        if "code_list" not in item:
            checker.error(
                path, f"{name!r} is {_a(kind.replace('_', ' '))} item and needs a code_list."
            )
        elif item["code_list"] not in code_lists:
            checker.error(
                (*path, "code_list"), f"there is no code list named {item['code_list']!r}."
            )
    elif "code_list" in item:
        checker.error(
            (*path, "code_list"), f"{_a(kind)} item takes no code_list (only choices do)."
        )


def _item_calculation(checker: Checker, path: Path, item: dict[str, Any]) -> None:
    """Calculated items need a calculation and a result type; other items take neither."""
    kind, name = item["type"], item["name"]
    if kind == "calculated":
        for key in ("calculation", "result_type"):
            if key not in item:
                checker.error(path, f"the calculated item {name!r} needs a {key}.")
    else:
        for key in ("calculation", "result_type"):
            if key in item:
                checker.error(
                    (*path, key), f"only calculated items take a {key}; {name!r} is {kind}."
                )


def _item_range(checker: Checker, path: Path, item: dict[str, Any]) -> None:
    """A range applies to numbers and dates, with bounds of the item's type, min <= max."""
    kind = item["type"]
    if kind not in NUMERIC_TYPES | DATE_TYPES:
        checker.error(
            (*path, "range"), f"a range applies to numbers and dates, not to {_a(kind)} item."
        )
        return
    bounds = {key: item["range"].get(key) for key in ("min", "max")}
    parsed = {}
    for key, value in bounds.items():
        if value is None:
            continue
        parsed[key] = _range_value(item, value)
        if parsed[key] is None:
            wanted = "a number" if kind in NUMERIC_TYPES else "a date such as 2024-01-31"
            checker.error((*path, "range", key), f"{value!r} is not {wanted}.")
    if (
        parsed.get("min") is not None
        and parsed.get("max") is not None
        and parsed["min"] > parsed["max"]
    ):
        checker.error((*path, "range"), f"min {bounds['min']!r} is above max {bounds['max']!r}.")


def _item_regex(checker: Checker, path: Path, item: dict[str, Any]) -> None:
    """A regex applies to text items and must compile."""
    kind = item["type"]
    if kind != "text":
        checker.error((*path, "regex"), f"a regex applies to text items, not to {_a(kind)} item.")
        return
    try:
        re.compile(item["regex"])
    except re.error as error:
        checker.error((*path, "regex"), f"the regular expression is not valid: {error}.")


def _events(checker: Checker, data: dict[str, Any]) -> None:
    forms = {form["name"] for form in data["forms"]}
    events = {event["name"]: event for event in data["events"]}
    scheduled_forms: set[str] = set()
    for e, event in enumerate(data["events"]):
        path: Path = ("events", e)
        for f, form_name in enumerate(event["forms"]):
            scheduled_forms.add(form_name)
            if form_name not in forms:
                checker.error((*path, "forms", f), f"there is no form named {form_name!r}.")
        if Counter(event["forms"]).most_common(1)[0][1] > 1:
            checker.error((*path, "forms"), "lists the same form twice.")
        schedule = event.get("schedule")
        if event.get("unscheduled"):
            if schedule is not None:
                checker.error((*path, "schedule"), "an unscheduled event has no schedule.")
            continue
        if schedule is None:
            checker.error(
                path, f"the event {event['name']!r} needs a schedule, or unscheduled: true."
            )
            continue
        anchor = schedule["anchor"]
        if anchor.startswith("event:"):
            target = anchor.removeprefix("event:")
            if target == event["name"]:
                checker.error(
                    (*path, "schedule", "anchor"),
                    "an event cannot be anchored on itself; to follow its own previous occurrence "
                    "use repeat: {from: previous}.",
                )
            elif target not in events:
                checker.error(
                    (*path, "schedule", "anchor"),
                    f"there is no event named {target!r} to anchor on.",
                )
            elif events[target].get("unscheduled"):
                checker.error(
                    (*path, "schedule", "anchor"),
                    f"{target!r} is unscheduled and cannot anchor a schedule.",
                )
        repeat = schedule.get("repeat")
        window = schedule.get("window", {})
        width = window.get("before", 0) + window.get("after", 0)
        if repeat and width >= repeat["every_days"]:
            checker.error(
                (*path, "schedule", "window"),
                f"the window spans {width} days (before {window.get('before', 0)} + after "
                f"{window.get('after', 0)}), as wide as or wider than the "
                f"{repeat['every_days']} days "
                "between occurrences: consecutive windows would overlap.",
            )
    _anchor_cycles(checker, data)
    for f, form in enumerate(data["forms"]):
        if form["name"] not in scheduled_forms:
            checker.warning(
                ("forms", f, "name"),
                f"the form {form['name']!r} is not on any event; nobody can enter it.",
            )


FLUID_UNITS = ("mL", "µL")
CENTRIFUGATION_KEYS = (
    "centrifuge_within_minutes",
    "centrifuge_temperature",
    "centrifuge_g",
    "centrifuge_minutes",
    "second_centrifugation",
)
FIXATION_KEYS = ("fixative", "fix_within_minutes", "fixation_hours_min", "fixation_hours_max")


def _samples(checker: Checker, data: dict[str, Any]) -> None:
    """Check the samples each event expects: unique codes, units and processing that fit the
    sample's kind (a tissue is not centrifuged, a fluid not fixed), delays in order."""
    for e, event in enumerate(data["events"]):
        codes: set[str] = set()
        for s, sample in enumerate(event.get("samples", ())):
            path: Path = ("events", e, "samples", s)
            if sample["code"] in codes:
                checker.error(
                    (*path, "code"),
                    f"the event {event['name']!r} already expects a sample {sample['code']!r}.",
                )
            codes.add(sample["code"])
            _sample_fits(checker, path, sample)


def _sample_fits(checker: Checker, path: Path, sample: dict[str, Any]) -> None:
    tissue = sample["type"] in TISSUE_SAMPLE_TYPES
    unit = sample.get("unit")
    if "volume" in sample and not unit:
        checker.error((*path, "volume"), "a volume needs its unit (unit: mL, blocks…).")
    if unit and (unit in FLUID_UNITS) == tissue:
        kind = "a tissue" if tissue else "a fluid"
        checker.error((*path, "unit"), f"{unit!r} is not a unit for {kind} ({sample['type']}).")
    processing = sample.get("processing", {})
    wrong = FIXATION_KEYS if not tissue else CENTRIFUGATION_KEYS
    why = "a tissue: it is not centrifuged" if tissue else "a fluid: it is not fixed"
    for key in wrong:
        if key in processing:
            checker.error((*path, "processing", key), f"{sample['type']} is {why}.")
    frozen = sample["type"].endswith("_frozen")
    fixative = processing.get("fixative")
    if tissue and fixative and (fixative == "snap_frozen") != frozen:
        checker.error(
            (*path, "processing", "fixative"),
            f"{fixative!r} does not make {sample['type']!r}.",
        )
    centrifuge = processing.get("centrifuge_within_minutes")
    freeze = processing.get("freeze_within_minutes")
    if centrifuge and freeze and freeze < centrifuge:
        checker.error(
            (*path, "processing", "freeze_within_minutes"),
            f"freezing within {freeze} minutes cannot come before centrifuging within "
            f"{centrifuge} minutes.",
        )
    low, high = processing.get("fixation_hours_min"), processing.get("fixation_hours_max")
    if low is not None and high is not None and low > high:
        checker.error(
            (*path, "processing", "fixation_hours_min"),
            f"the shortest fixation ({low} h) is longer than the longest ({high} h).",
        )


def _anchor_cycles(checker: Checker, data: dict[str, Any]) -> None:
    anchors = {}
    for event in data["events"]:
        anchor = (event.get("schedule") or {}).get("anchor", "")
        if anchor.startswith("event:") and anchor != f"event:{event['name']}":
            anchors[event["name"]] = anchor.removeprefix("event:")
    for e, event in enumerate(data["events"]):
        seen, current = [event["name"]], anchors.get(event["name"])
        while current is not None and current not in seen:
            seen.append(current)
            current = anchors.get(current)
        if current == event["name"] and len(seen) > 1:
            checker.error(
                ("events", e, "schedule", "anchor"),
                "the anchors go round in a circle: " + " -> ".join([*seen, current]) + ".",
            )


def symbol_table(data: dict[str, Any]) -> SymbolTable:
    """Return the symbol table of a (structurally valid) study for its rules."""
    events_of_form: dict[str, set[str]] = defaultdict(set)
    for event in data["events"]:
        for form_name in event["forms"]:
            events_of_form[form_name].add(event["name"])
    code_lists = {c["name"]: c for c in data.get("code_lists", [])}
    symbols = []
    for _path, form, group, item in _walk_items(data):
        codes = None
        if item.get("code_list") in code_lists:
            code_list = code_lists[item["code_list"]]
            # Codes of the wrong type are reported on the code list; leaving them out here keeps
            # one mistake from reappearing in every rule that reads the item.
            wanted = int if code_list["type"] == "integer" else str
            codes = [
                entry["code"]
                for entry in code_list["items"]
                if isinstance(entry["code"], wanted) and not isinstance(entry["code"], bool)
            ]
        try:
            symbols.append(
                Symbol.for_item(
                    item["name"],
                    item["type"],
                    codes=codes,
                    repeating=bool(group.get("repeating")),
                    result_type=item.get("result_type"),
                    events=events_of_form.get(form["name"], set()),
                    forms=[form["name"]],
                )
            )
        except ValueError:
            continue  # reported by the item checks
    return SymbolTable(
        symbols,
        events=[event["name"] for event in data["events"]],
        forms=[form["name"] for form in data["forms"]],
    )


def _expression(
    checker: Checker, path: Path, text: str, symbols: SymbolTable, expected: ValueType
) -> list[str]:
    """Check one rule; return the item names it reads (empty when it has errors)."""
    try:
        checked = check(parse(text), symbols, expected=expected)
    except ExpressionSyntaxError as error:
        checker.error(
            path, f"{error.problem.message} (at {error.problem.position} of the expression)."
        )
        return []
    except ExpressionCheckError as error:
        for problem in error.problems:
            checker.error(path, f"{problem.message} (at {problem.position} of the expression).")
        return []
    return [reference.name for reference in references(checked)]


def _rules(checker: Checker, data: dict[str, Any]) -> None:
    symbols = symbol_table(data)
    calculated: dict[str, tuple[Path, list[str]]] = {}
    for path, _form, _group, item in _walk_items(data):
        if "show_if" in item:
            read = _expression(
                checker, (*path, "show_if"), item["show_if"], symbols, ValueType.BOOLEAN
            )
            if item["name"] in read:
                checker.error(
                    (*path, "show_if"), f"{item['name']!r} cannot be shown depending on itself."
                )
        if (
            item["type"] == "calculated"
            and "calculation" in item
            and item.get("result_type") in RESULT_TYPES
        ):
            read = _expression(
                checker,
                (*path, "calculation"),
                item["calculation"],
                symbols,
                RESULT_TYPES[item["result_type"]],
            )
            calculated[item["name"]] = ((*path, "calculation"), read)
    _calculation_cycles(checker, calculated)
    for f, form in enumerate(data["forms"]):
        own_items = {item["name"] for group in form["groups"] for item in group["items"]}
        for c, rule in enumerate(form.get("checks", [])):
            path = ("forms", f, "checks", c)
            _expression(
                checker, (*path, "expression"), rule["expression"], symbols, ValueType.BOOLEAN
            )
            for i, name in enumerate(rule.get("items", [])):
                if name not in own_items:
                    checker.error(
                        (*path, "items", i),
                        f"{name!r} is not an item of the form {form['name']!r}.",
                    )
    for c, criterion in enumerate(data.get("eligibility", [])):
        _expression(
            checker,
            ("eligibility", c, "expression"),
            criterion["expression"],
            symbols,
            ValueType.BOOLEAN,
        )


def _calculation_cycles(checker: Checker, calculated: dict[str, tuple[Path, list[str]]]) -> None:
    state: dict[str, str] = {}

    def visit(name: str, trail: list[str]) -> None:
        state[name] = "visiting"
        for dependency in calculated[name][1]:
            if dependency not in calculated:
                continue
            if state.get(dependency) == "visiting":
                cycle = (
                    [*trail[trail.index(dependency) :], dependency]
                    if dependency in trail
                    else [name, dependency]
                )
                checker.error(
                    calculated[name][0],
                    "calculations depend on each other in a circle: " + " -> ".join(cycle) + ".",
                )
            elif dependency not in state:
                visit(dependency, [*trail, dependency])
        state[name] = "done"

    for name in calculated:
        if name not in state:
            visit(name, [name])


def _design(checker: Checker, data: dict[str, Any]) -> None:
    design = data["study"].get("design", {})
    arms = data.get("arms", [])
    if design.get("allocation") == "randomised" and len(arms) < 2:
        checker.error(("arms",), "a randomised study needs at least two arms.")
    if design.get("allocation") == "single arm" and len(arms) > 1:
        checker.error(("arms",), "a single-arm study has one arm at most.")
    ratio = design.get("randomisation", {}).get("ratio")
    if ratio is not None and len(ratio) != len(arms):
        checker.error(
            ("study", "design", "randomisation", "ratio"),
            f"gives {len(ratio)} parts for {len(arms)} arms.",
        )
    if "randomisation" in design:
        _randomisation(checker, data, design["randomisation"])
    if "pharmacy" in design:
        _pharmacy(checker, data, design["pharmacy"])
    if "pregnancy" in design.get("safety", {}):
        _pregnancy(checker, data, design["safety"]["pregnancy"])


def _pregnancy(checker: Checker, data: dict[str, Any], pregnancy: dict[str, Any]) -> None:
    """The pregnancy form and its declared items must be the casebook's: a wrong name would
    open no pregnancy report at all, and nobody would notice."""
    path: Path = ("study", "design", "safety", "pregnancy")
    forms = {form["name"]: form for form in data["forms"]}
    name = pregnancy["form"]
    if name not in forms:
        close = difflib.get_close_matches(name, list(forms), n=1)
        checker.error(
            (*path, "form"),
            f"there is no form named {name!r}"
            + (f" (did you mean {close[0]!r}?)." if close else "."),
        )
        return
    items = {item["name"] for group in forms[name]["groups"] for item in group["items"]}
    for field_name, item in pregnancy.get("items", {}).items():
        if item not in items:
            checker.error(
                (*path, "items", field_name), f"the form {name!r} has no item named {item!r}."
            )


def _pharmacy(checker: Checker, data: dict[str, Any], pharmacy: dict[str, Any]) -> None:
    path: Path = ("study", "design", "pharmacy")
    products = pharmacy["products"]
    _unique(
        checker,
        [((*path, "products", i, "code"), p["code"]) for i, p in enumerate(products)],
        "the product code",
    )
    for i, product in enumerate(products):
        if pharmacy["mode"] == "kits" and "per_kit" not in product:
            checker.error(
                (*path, "products", i),
                f"the product {product['code']!r} needs per_kit (units in one kit) in kits mode.",
            )
        if pharmacy["mode"] == "hospital_stock" and "per_kit" in product:
            checker.error(
                (*path, "products", i, "per_kit"),
                "per_kit is read in kits mode only; hospital stock has no kits.",
            )
    if pharmacy["mode"] == "kits" and not data.get("arms"):
        checker.error((*path, "mode"), "kits mode needs the study's arms: a kit holds an arm.")
    codes = {p["code"] for p in products}
    events = [event["name"] for event in data["events"]]
    seen: set[tuple[str, str]] = set()
    for i, rule in enumerate(pharmacy.get("dispensing", [])):
        if rule["event"] not in events:
            close = difflib.get_close_matches(rule["event"], events, n=1)
            checker.error(
                (*path, "dispensing", i, "event"),
                f"there is no event named {rule['event']!r}"
                + (f" (did you mean {close[0]!r}?)." if close else "."),
            )
        if rule["product"] not in codes:
            checker.error(
                (*path, "dispensing", i, "product"),
                f"there is no product {rule['product']!r}; the products are "
                f"{', '.join(sorted(codes))}.",
            )
        if (rule["event"], rule["product"]) in seen:
            checker.error(
                (*path, "dispensing", i),
                f"{rule['event']!r} already dispenses {rule['product']!r}.",
            )
        seen.add((rule["event"], rule["product"]))
    _pharmacy_administration(checker, data, pharmacy.get("administration", []), codes)


# The item types each part of an administration record must have.
ADMINISTRATION_TYPES = {"dose": ("integer", "decimal"), "date": ("date",)}


def _pharmacy_administration(
    checker: Checker, data: dict[str, Any], rules: list[dict[str, Any]], codes: set[str]
) -> None:
    """Check where the casebook records the doses given: a product of the plan, once; a form of
    the study holding a number (dose) and a date; the protocol dose, fixed or per kg of a weight
    item. None may reveal the arm: exposure goes into blinded exports too."""
    path: Path = ("study", "design", "pharmacy", "administration")
    forms = {form["name"]: form for form in data["forms"]}
    every_item = {item["name"]: item for _p, _f, _g, item in _walk_items(data)}
    _unique(
        checker,
        [((*path, i, "product"), rule["product"]) for i, rule in enumerate(rules)],
        "the administration of product",
    )
    for i, rule in enumerate(rules):
        if rule["product"] not in codes:
            checker.error(
                (*path, i, "product"),
                f"there is no product {rule['product']!r}; the products are "
                f"{', '.join(sorted(codes))}.",
            )
        form = forms.get(rule["form"])
        if form is None:
            close = difflib.get_close_matches(rule["form"], list(forms), n=1)
            checker.error(
                (*path, i, "form"),
                f"there is no form named {rule['form']!r}"
                + (f" (did you mean {close[0]!r}?)." if close else "."),
            )
        else:
            items = {item["name"]: item for group in form["groups"] for item in group["items"]}
            for key, types in ADMINISTRATION_TYPES.items():
                item = items.get(rule[key])
                if item is None:
                    checker.error(
                        (*path, i, key),
                        f"the form {rule['form']!r} has no item {rule[key]!r}.",
                    )
                elif item.get("type") not in types:
                    checker.error(
                        (*path, i, key),
                        f"the item {rule[key]!r} is of type {item.get('type')!r}; "
                        f"{key} needs {' or '.join(types)}.",
                    )
                elif "arm_revealing" in item.get("flags", []):
                    checker.error(
                        (*path, i, key),
                        f"the item {rule[key]!r} reveals the arm; exposure is exported "
                        "blinded too.",
                    )
        fixed, per_kg = "planned_dose" in rule, "planned_per_kg" in rule
        if fixed == per_kg:
            checker.error(
                (*path, i),
                "give the protocol dose of one administration: planned_dose or planned_per_kg "
                "(one of them).",
            )
        if per_kg and "weight" not in rule:
            checker.error((*path, i), "planned_per_kg needs weight (the item holding the weight).")
        if "weight" in rule and not per_kg:
            checker.error((*path, i, "weight"), "weight is read with planned_per_kg only.")
        weight = every_item.get(rule["weight"]) if "weight" in rule else None
        if "weight" in rule and weight is None:
            checker.error((*path, i, "weight"), f"there is no item named {rule['weight']!r}.")
        elif weight is not None and weight.get("type") not in ("integer", "decimal"):
            checker.error(
                (*path, i, "weight"),
                f"the item {rule['weight']!r} is of type {weight.get('type')!r}; weight needs "
                "integer or decimal.",
            )


# Which keys each randomisation method reads; any other is refused, so a scheme never carries a
# setting that silently does nothing.
METHOD_KEYS = {
    "simple": {"method", "ratio"},
    "blocks": {"method", "ratio", "strata", "block_sizes"},
    "minimisation": {"method", "ratio", "factors", "imbalance", "p"},
}


def _randomisation(checker: Checker, data: dict[str, Any], scheme: dict[str, Any]) -> None:
    path: Path = ("study", "design", "randomisation")
    method = scheme["method"]
    for key in scheme:
        if key not in METHOD_KEYS[method]:
            checker.error(
                (*path, key),
                f"{key!r} is not read by the method {method!r}; it reads "
                f"{', '.join(sorted(METHOD_KEYS[method]))}.",
            )
    items = {item["name"]: (item, group) for _p, _f, group, item in _walk_items(data)}
    names = [((*path, "strata", i), name) for i, name in enumerate(scheme.get("strata", []))] + [
        ((*path, "factors", i), factor if isinstance(factor, str) else factor["name"])
        for i, factor in enumerate(scheme.get("factors", []))
    ]
    _unique(checker, names, "the factor")
    for factor_path, name in names:
        _randomisation_factor(checker, factor_path, name, items)
    if method == "minimisation" and not scheme.get("factors"):
        checker.error((*path, "method"), "minimisation needs at least one factor.")
    if method == "blocks":
        ratio_sum = sum(scheme.get("ratio") or [1] * len(data.get("arms", [])))
        if "block_sizes" not in scheme:
            checker.error((*path, "method"), "blocks need block_sizes, e.g. [4, 6].")
        for i, size in enumerate(scheme.get("block_sizes", [])):
            if ratio_sum and size % ratio_sum:
                checker.error(
                    (*path, "block_sizes", i),
                    f"a block of {size} cannot keep the ratio: use a multiple of {ratio_sum}.",
                )


def _randomisation_factor(
    checker: Checker,
    path: Path,
    name: str,
    items: dict[str, tuple[dict[str, Any], dict[str, Any]]],
) -> None:
    if name == "site":
        return
    if name not in items:
        close = difflib.get_close_matches(name, list(items), n=1)
        checker.error(
            path,
            f"{name!r} is neither 'site' nor an item of the casebook"
            + (f" (did you mean {close[0]!r}?)." if close else "."),
        )
        return
    item, group = items[name]
    if item["type"] != "single_choice":
        checker.error(
            path,
            f"{name!r} is a {item['type']} item; a factor must be a single_choice item, "
            "whose codes are its levels.",
        )
    elif group.get("repeating"):
        checker.error(path, f"{name!r} is in a repeating group; a factor has one value.")


def validate_source(source: Source) -> list[Finding]:
    """Return every finding about a parsed study file; the data gain their derived OIDs."""
    checker = Checker(source)
    _structure(checker)
    structure_failed = checker.failed
    data = source.data
    families = [
        lambda: _labels(checker, data, ()),
        lambda: _names(checker, data),
        lambda: _code_lists(checker, data),
        lambda: _items(checker, data),
        lambda: _events(checker, data),
        lambda: _samples(checker, data),
        lambda: _design(checker, data),
        lambda: _rules(checker, data),
        lambda: _registration(checker, data),
        lambda: _deviations(checker, data),
        lambda: check_statistical_plan(checker, data),
    ]
    for family in families:
        try:
            family()
        except (KeyError, TypeError, AttributeError, IndexError, ValueError):
            # Only possible when the structure is wrong, which is already reported: the
            # remaining families still run, so the designer sees every error at once.
            if not structure_failed:
                raise
    order = {"error": 0, "warning": 1}
    unique = list(dict.fromkeys(checker.findings))
    return sorted(unique, key=lambda f: (order[f.severity], f.line, f.column))


# What each registration question answers, and the item types that can hold it.
QUESTION_TYPES = {
    "sex": {"single_choice", "text"},
    "age": NUMERIC_TYPES,
    "inclusion_date": {"date"},
    "consent_date": {"date"},
    "consent_version": {"text"},
    "biobank_consent": {"boolean", "single_choice"},
    "future_research_consent": {"boolean", "single_choice"},
}
QUESTION_ANSWERS = {
    "sex": ("female", "male", "unknown"),
    "biobank_consent": ("yes", "no"),
    "future_research_consent": ("yes", "no"),
}


def _registration_item(
    checker: Checker,
    path: Path,
    reference: str,
    places: dict[str, tuple[dict[str, Any], dict[str, Any], dict[str, Any]]],
    events: dict[str, dict[str, Any]],
) -> dict[str, Any] | None:
    """Return the item a registration target names, once it can take a value at inclusion."""
    event_name, _dot, name = reference.partition(".")
    if event_name not in events:
        checker.error(path, f"there is no event named {event_name!r}.")
        return None
    if name not in places:
        checker.error(path, f"there is no item named {name!r}.")
        return None
    form, group, item = places[name]
    if form["name"] not in events[event_name]["forms"]:
        checker.error(
            path,
            f"the item {name!r} is on the form {form['name']!r}, which the event "
            f"{event_name!r} does not hold.",
        )
        return None
    why = (
        "is calculated, never entered"
        if item["type"] == "calculated"
        else "belongs to a repeating group"
        if group.get("repeating")
        else f"is on the repeating form {form['name']!r}"
        if form.get("repeating")
        else "is a file"
        if item["type"] == "file"
        else ""
    )
    if why:
        checker.error(path, f"{name!r} {why}: inclusion cannot write it.")
        return None
    return item


def _registration(checker: Checker, data: dict[str, Any]) -> None:
    """Check that every registration answer goes to a casebook item that can hold it, once."""
    section = data.get("registration")
    if not section:
        return
    places = {item["name"]: (form, group, item) for _path, form, group, item in _walk_items(data)}
    events = {event["name"]: event for event in data["events"]}
    code_lists = {c["name"]: c for c in data.get("code_lists", [])}
    targets: list[tuple[Path, str]] = []
    for question, target in section.get("questions", {}).items():
        path: Path = ("registration", "questions", question, "item")
        item = _registration_item(checker, path, target["item"], places, events)
        targets.append((path, target["item"]))
        if item is None:
            continue
        kind = item["type"]
        if kind not in QUESTION_TYPES[question]:
            wanted = " or ".join(sorted(QUESTION_TYPES[question])).replace("_", " ")
            checker.error(
                path,
                f"the answer to {question!r} cannot go into {item['name']!r}, "
                f"{_a(kind.replace('_', ' '))} item: it needs {_a(wanted)} item.",
            )
            continue
        codes = target.get("codes")
        codes_path: Path = ("registration", "questions", question, "codes")
        if kind == "single_choice":
            if not codes:
                checker.error(
                    path,
                    f"{item['name']!r} is a choice: give the codes of "
                    f"{', '.join(QUESTION_ANSWERS[question])}.",
                )
                continue
            listed = code_lists.get(item.get("code_list", ""), {"items": []})
            known = [entry["code"] for entry in listed["items"]]
            for answer, code in codes.items():
                if answer not in QUESTION_ANSWERS[question]:
                    checker.error(
                        (*codes_path, answer),
                        f"{answer!r} is not an answer to {question!r} "
                        f"({', '.join(QUESTION_ANSWERS[question])}).",
                    )
                elif code not in known:
                    checker.error(
                        (*codes_path, answer),
                        f"{code!r} is not a code of the code list {item.get('code_list')!r}.",
                    )
        elif codes:
            checker.error(codes_path, f"{_a(kind)} item takes the answer as it is: no codes.")
    read = _criteria_references(data)
    for index, reference in enumerate(section.get("eligibility", [])):
        path = ("registration", "eligibility", index)
        targets.append((path, reference))
        if _registration_item(checker, path, reference, places, events) is None:
            continue
        if reference not in read:
            checker.error(
                path,
                f"no eligibility criterion reads {reference!r}, so the wizard does not ask it.",
            )
    _unique(checker, targets, "the casebook item")


def _deviations(checker: Checker, data: dict[str, Any]) -> None:
    """Check the checks that record protocol deviations: soft, with a class and a category."""
    own = data["study"].get("deviation_categories", [])
    _unique(
        checker,
        [(("study", "deviation_categories", i, "name"), c["name"]) for i, c in enumerate(own)],
        "the deviation category",
    )
    categories = [name for name, _en, _fr in STANDARD_DEVIATION_CATEGORIES]
    categories += [c["name"] for c in own]
    for f, form in enumerate(data["forms"]):
        for c, rule in enumerate(form.get("checks", [])):
            path = ("forms", f, "checks", c)
            if not rule.get("deviation", False):
                for key in ("deviation_class", "deviation_category"):
                    if key in rule:
                        checker.error(
                            (*path, key),
                            f"{key} is only read on a check marked 'deviation: true'.",
                        )
                continue
            if rule["severity"] != "soft":
                checker.error(
                    (*path, "severity"),
                    "a hard check refuses the save, so it never records a deviation: make it soft.",
                )
            for key in ("deviation_class", "deviation_category"):
                if key not in rule:
                    checker.error((*path, "deviation"), f"a deviation check needs {key}.")
            category = rule.get("deviation_category")
            if category is not None and category not in categories:
                close = difflib.get_close_matches(category, categories, n=1)
                checker.error(
                    (*path, "deviation_category"),
                    f"{category!r} is not a deviation category"
                    + (f" (did you mean {close[0]!r}?)" if close else "")
                    + f"; known: {', '.join(categories)}.",
                )


def _criteria_references(data: dict[str, Any]) -> set[str]:
    """Return every reference the eligibility criteria read, as written (``screening.age``)."""
    symbols = symbol_table(data)
    read: set[str] = set()
    for criterion in data.get("eligibility", []):
        try:
            checked = check(parse(criterion["expression"]), symbols, expected=ValueType.BOOLEAN)
        except (ExpressionSyntaxError, ExpressionCheckError):
            continue  # reported with the criterion
        read.update(reference.key for reference in references(checked))
    return read


def _items(checker: Checker, data: dict[str, Any]) -> None:
    code_lists = {c["name"]: c for c in data.get("code_lists", [])}
    for path, _form, _group, item in _walk_items(data):
        _item(checker, path, item, code_lists)
