"""A study version's rules, parsed and type-checked once, ready for the save pipeline.

Branching (`show_if`), calculations and edit checks are compiled per study version and kept in
memory: a published version never changes, so neither do its compiled rules.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from carnet.expressions import CheckedExpression, Reference, ValueType, check, parse, references
from carnet.studies.definition.model import Check, Form, Item, StudyDefinition
from carnet.studies.definition.validation import RESULT_TYPES, symbol_table
from carnet.studies.models import StudyVersion


@dataclass(frozen=True)
class Rule:
    expression: CheckedExpression
    reads: tuple[Reference, ...]


@dataclass
class FormRules:
    """What the pipeline needs for one form: its items, and their compiled rules."""

    form: Form
    items: dict[str, Item]
    group_of: dict[str, str]
    repeating_groups: frozenset[str]
    show_if: dict[str, Rule] = field(default_factory=dict)
    calculations: list[tuple[Item, Rule]] = field(default_factory=list)  # in dependency order
    checks: list[tuple[Check, Rule]] = field(default_factory=list)


@dataclass
class StudyRules:
    definition: StudyDefinition
    forms: dict[str, FormRules]
    form_of_item: dict[str, str]


def _rule(text: str, symbols: object, expected: ValueType) -> Rule:
    checked = check(parse(text), symbols, expected=expected)  # type: ignore[arg-type]
    return Rule(checked, tuple(references(checked)))


def _ordered(calculations: dict[str, tuple[Item, Rule]]) -> list[tuple[Item, Rule]]:
    """Order calculations so each comes after the calculated items it reads (no cycles: the
    study validator refuses them)."""
    done: list[tuple[Item, Rule]] = []
    seen: set[str] = set()

    def visit(name: str) -> None:
        if name in seen:
            return
        seen.add(name)
        item, rule = calculations[name]
        for reference in rule.reads:
            if reference.name in calculations and reference.event is None:
                visit(reference.name)
        done.append((item, rule))

    for name in calculations:
        visit(name)
    return done


# Compiled rules by (study version, content hash): published versions never change, and a draft
# that changes gets a new hash. Small: a handful of versions are in use at any time.
_CACHE: dict[tuple[int, str], StudyRules] = {}
_CACHE_SIZE = 64


def _compile(definition: StudyDefinition) -> StudyRules:
    symbols = symbol_table(_validation_shape(definition))
    forms: dict[str, FormRules] = {}
    form_of_item: dict[str, str] = {}
    for form in definition.forms:
        rules = FormRules(
            form=form,
            items={item.name: item for item in form.items()},
            group_of={item.name: group.name for group in form.groups for item in group.items},
            repeating_groups=frozenset(group.name for group in form.groups if group.repeating),
        )
        calculations: dict[str, tuple[Item, Rule]] = {}
        for item in form.items():
            form_of_item[item.name] = form.name
            if item.show_if:
                rules.show_if[item.name] = _rule(item.show_if, symbols, ValueType.BOOLEAN)
            if item.type == "calculated":
                calculations[item.name] = (
                    item,
                    _rule(item.calculation, symbols, RESULT_TYPES[item.result_type]),
                )
        rules.calculations = _ordered(calculations)
        rules.checks = [(c, _rule(c.expression, symbols, ValueType.BOOLEAN)) for c in form.checks]
        forms[form.name] = rules
    return StudyRules(definition=definition, forms=forms, form_of_item=form_of_item)


def _validation_shape(definition: StudyDefinition) -> dict[str, object]:
    """Return the definition in the file's shape, as the symbol table builder reads it."""
    return {
        "events": [{"name": e.name, "forms": list(e.forms)} for e in definition.events],
        "code_lists": [
            {"name": c.name, "type": c.type, "items": [{"code": i.code} for i in c.items]}
            for c in definition.code_lists
        ],
        "forms": [
            {
                "name": f.name,
                "groups": [
                    {
                        "name": g.name,
                        "repeating": g.repeating,
                        "items": [
                            {
                                "name": i.name,
                                "type": i.type,
                                **({"code_list": i.code_list} if i.code_list else {}),
                                **({"result_type": i.result_type} if i.result_type else {}),
                            }
                            for i in g.items
                        ],
                    }
                    for g in f.groups
                ],
            }
            for f in definition.forms
        ],
    }


def study_rules(version: StudyVersion) -> StudyRules:
    """Return the compiled rules of a study version, compiled once per version and content."""
    key = (version.pk, version.source_sha256)
    rules = _CACHE.get(key)
    if rules is None:
        if len(_CACHE) >= _CACHE_SIZE:
            _CACHE.clear()
        rules = _CACHE[key] = _compile(version.parsed())
    return rules
