"""Comparing two study definitions element by element: what was added, removed or changed.

Elements are matched by OID, the identifier that survives renaming, so a renamed item is a
change of its name and not a removal plus an addition.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from carnet.studies.definition.model import StudyDefinition

KINDS = ("study", "arm", "code_list", "event", "form", "item_group", "item", "rule")
ADDED, REMOVED, CHANGED = "added", "removed", "changed"


@dataclass(frozen=True)
class AttributeChange:
    attribute: str
    old: Any
    new: Any

    def __str__(self) -> str:
        return f"{self.attribute}: {_short(self.old)} -> {_short(self.new)}"


@dataclass(frozen=True)
class Change:
    """One element added, removed or changed between two versions."""

    kind: str
    key: str  # the OID, or form/check name for rules
    name: str
    change: str
    attributes: tuple[AttributeChange, ...] = ()
    form: str = ""  # where an item, group or rule lives, to say what data it touches

    def __str__(self) -> str:
        sign = {ADDED: "+", REMOVED: "-", CHANGED: "~"}[self.change]
        where = f" on form {self.form}" if self.form and self.kind != "form" else ""
        text = f"{sign} {self.kind.replace('_', ' ')} {self.name} ({self.key}){where}"
        if self.attributes:
            text += ": " + "; ".join(str(attribute) for attribute in self.attributes)
        return text

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "key": self.key,
            "name": self.name,
            "change": self.change,
            "form": self.form,
            "attributes": [
                {"attribute": a.attribute, "old": _jsonable(a.old), "new": _jsonable(a.new)}
                for a in self.attributes
            ],
        }


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Return nested data as dotted attributes, so changes name exactly what moved."""
    if isinstance(value, dict):
        flat: dict[str, Any] = {}
        for key, element in value.items():
            flat.update(_flatten(element, f"{prefix}.{key}" if prefix else key))
        return flat
    return {prefix: tuple(value) if isinstance(value, list) else value}


def _elements(
    definition: StudyDefinition,
) -> dict[tuple[str, str], tuple[str, str, dict[str, Any]]]:
    """Return every element as (kind, key) -> (name, form, comparable attributes)."""
    found: dict[tuple[str, str], tuple[str, str, dict[str, Any]]] = {}
    data = definition.to_json()
    study = {
        k: v
        for k, v in data.items()
        if k not in {"arms", "code_lists", "events", "forms", "eligibility"}
    }
    found[("study", definition.oid)] = (definition.identifier, "", _flatten(study))
    for arm in data["arms"]:
        found[("arm", arm["oid"])] = (arm["name"], "", _flatten(arm))
    for code_list in data["code_lists"]:
        found[("code_list", code_list["oid"])] = (code_list["name"], "", _flatten(code_list))
    for event in data["events"]:
        found[("event", event["oid"])] = (event["name"], "", _flatten(event))
    for form in data["forms"]:
        shell = {k: v for k, v in form.items() if k not in {"groups", "checks"}}
        shell["groups"] = [group["oid"] for group in form["groups"]]
        found[("form", form["oid"])] = (form["name"], form["name"], _flatten(shell))
        for group in form["groups"]:
            group_shell = {k: v for k, v in group.items() if k != "items"}
            group_shell["items"] = [item["oid"] for item in group["items"]]
            found[("item_group", group["oid"])] = (
                group["name"],
                form["name"],
                _flatten(group_shell),
            )
            for item in group["items"]:
                found[("item", item["oid"])] = (item["name"], form["name"], _flatten(item))
        for rule in form["checks"]:
            found[("rule", f"{form['name']}/{rule['name']}")] = (
                rule["name"],
                form["name"],
                _flatten(rule),
            )
    for criterion in data["eligibility"]:
        found[("rule", f"eligibility/{criterion['name']}")] = (
            criterion["name"],
            "",
            _flatten(criterion),
        )
    return found


def definition_diff(old: StudyDefinition, new: StudyDefinition) -> list[Change]:
    """Return the changes from ``old`` to ``new``, grouped by kind in a stable order."""
    before, after = _elements(old), _elements(new)
    changes: list[Change] = []
    for key in before.keys() | after.keys():
        kind, element_key = key
        if key not in after:
            name, form, _ = before[key]
            changes.append(Change(kind, element_key, name, REMOVED, form=form))
        elif key not in before:
            name, form, _ = after[key]
            changes.append(Change(kind, element_key, name, ADDED, form=form))
        else:
            old_attributes, new_attributes = before[key][2], after[key][2]
            moved = tuple(
                AttributeChange(
                    attribute, old_attributes.get(attribute), new_attributes.get(attribute)
                )
                for attribute in sorted(old_attributes.keys() | new_attributes.keys())
                if old_attributes.get(attribute) != new_attributes.get(attribute)
            )
            if moved:
                name, form, _ = after[key]
                changes.append(Change(kind, element_key, name, CHANGED, moved, form=form))
    order = {kind: index for index, kind in enumerate(KINDS)}
    return sorted(changes, key=lambda c: (order[c.kind], c.change, c.key))


def diff_summary(changes: list[Change]) -> dict[str, dict[str, int]]:
    """Return counts of changes per kind: {"item": {"added": 2, ...}, ...}."""
    summary: dict[str, dict[str, int]] = {}
    for change in changes:
        summary.setdefault(change.kind, {ADDED: 0, REMOVED: 0, CHANGED: 0})[change.change] += 1
    return summary
