"""Meaning checks of `design.statistical_plan`: every item it names exists, has the right type
and, for codes, the codes exist; strata and subgroups hold one value per subject; the reference
arm is an arm. Each finding is located on the key at fault."""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING, Any

from carnet.studies.definition.findings import Path

if TYPE_CHECKING:
    from carnet.studies.definition.validation import Checker

PLAN: tuple[str, ...] = ("study", "design", "statistical_plan")
DATE_KINDS = {"date", "partial_date", "datetime"}
CHOICE_KINDS = {"single_choice"}
# What each single-item reference must hold.
REFERENCE_KINDS = {
    "death": DATE_KINDS,
    "last_news": DATE_KINDS,
    "new_therapy": DATE_KINDS,
    "first_dose": DATE_KINDS,
    "last_dose": DATE_KINDS,
}


def _kind(item: dict[str, Any]) -> str:
    return str(item.get("result_type") if item.get("type") == "calculated" else item.get("type"))


class _Casebook:
    """The forms' items by name, with their group, as the plan's checks read them."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.forms: dict[str, dict[str, tuple[dict[str, Any], dict[str, Any]]]] = {}
        for form in data.get("forms", []):
            items = self.forms.setdefault(form["name"], {})
            for group in form.get("groups", []):
                for item in group.get("items", []):
                    items[item["name"]] = (item, group)
        self.code_lists = {c["name"]: c for c in data.get("code_lists", [])}
        self.arms = [arm["name"] for arm in data.get("arms", [])]

    def item(
        self, checker: Checker, path: Path, form: str, name: str, kinds: set[str] | None
    ) -> dict[str, Any] | None:
        """Return the item, or report where the plan names what does not exist."""
        if form not in self.forms:
            close = difflib.get_close_matches(form, list(self.forms), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            checker.error(path, f"no form {form!r} in the casebook{hint}.")
            return None
        if name not in self.forms[form]:
            close = difflib.get_close_matches(name, list(self.forms[form]), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            checker.error(path, f"the form {form!r} has no item {name!r}{hint}.")
            return None
        item = self.forms[form][name][0]
        if kinds is not None and _kind(item) not in kinds:
            checker.error(
                path,
                f"{form}.{name} is a {_kind(item)} item; it must be {' or '.join(sorted(kinds))}.",
            )
        return item

    def codes(self, item: dict[str, Any]) -> set[str] | None:
        code_list = self.code_lists.get(item.get("code_list", ""))
        if code_list is None:
            return None
        return {str(code["code"]) for code in code_list.get("items", [])}

    def subject_item(self, name: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
        for items in self.forms.values():
            if name in items:
                return items[name]
        return None


def _check_codes(
    checker: Checker, casebook: _Casebook, path: Path, item: dict[str, Any], codes: list[Any]
) -> None:
    known = casebook.codes(item)
    if known is None:
        return
    for index, code in enumerate(codes):
        if str(code) not in known:
            checker.error(
                (*path, index) if isinstance(index, int) else path,
                f"{code!r} is not a code of {item['name']} ({', '.join(sorted(known))}).",
            )


def _assessments(checker: Checker, casebook: _Casebook, spec: dict[str, Any]) -> None:
    path = (*PLAN, "endpoints", "assessments")
    form = spec["form"]
    casebook.item(checker, (*path, "date"), form, spec["date"], DATE_KINDS)
    if "change" in spec:
        casebook.item(checker, (*path, "change"), form, spec["change"], {"decimal", "integer"})
    response = casebook.item(checker, (*path, "response"), form, spec["response"], CHOICE_KINDS)
    if response is not None:
        known = casebook.codes(response)
        for category, code in spec["codes"].items():
            if known is not None and str(code) not in known:
                checker.error(
                    (*path, "codes", category),
                    f"{code!r} is not a code of {spec['response']} ({', '.join(sorted(known))}).",
                )


def _adverse_events(checker: Checker, casebook: _Casebook, spec: dict[str, Any]) -> None:
    path = (*PLAN, "endpoints", "adverse_events")
    form = spec["form"]
    casebook.item(checker, (*path, "term"), form, spec["term"], {"text", "single_choice"})
    casebook.item(checker, (*path, "grade"), form, spec["grade"], {"single_choice", "integer"})
    casebook.item(checker, (*path, "onset"), form, spec["onset"], DATE_KINDS)
    for key in ("serious", "related", "discontinued"):
        coded = spec.get(key)
        if not coded:
            continue
        item = casebook.item(checker, (*path, key, "item"), form, coded["item"], CHOICE_KINDS)
        if item is not None:
            _check_codes(checker, casebook, (*path, key, "codes"), item, coded["codes"])


def _subject_items(checker: Checker, casebook: _Casebook, key: str, names: list[str]) -> None:
    """Strata and subgroups: single-choice items with one value per subject."""
    for index, name in enumerate(names):
        path: Path = (*PLAN, key, index)
        found = casebook.subject_item(name)
        if found is None:
            checker.error(path, f"{name!r} is not an item of the casebook.")
            continue
        item, group = found
        if _kind(item) != "single_choice":
            checker.error(path, f"{name!r} is a {_kind(item)} item; it must be single_choice.")
        elif group.get("repeating"):
            checker.error(path, f"{name!r} is in a repeating group; it needs one value.")


def _primary(checker: Checker, plan: dict[str, Any]) -> None:
    primary = plan.get("primary_endpoint")
    endpoints = plan.get("endpoints") or {}
    needs = {
        "overall_survival": ["death"],
        "progression_free_survival": ["assessments"],
        "objective_response": ["assessments"],
    }.get(primary or "", [])
    for key in needs:
        if key not in endpoints:
            checker.error(
                (*PLAN, "primary_endpoint"),
                f"{primary} needs endpoints.{key}, which the plan does not declare.",
            )


def check_statistical_plan(checker: Checker, data: dict[str, Any]) -> None:
    """Report every reference of the plan that the casebook does not hold as it should."""
    plan = data["study"].get("design", {}).get("statistical_plan")
    if not plan:
        return
    casebook = _Casebook(data)
    endpoints = plan.get("endpoints") or {}
    for key, kinds in REFERENCE_KINDS.items():
        if key in endpoints:
            form, item = endpoints[key].split(".", 1)
            casebook.item(checker, (*PLAN, "endpoints", key), form, item, kinds)
    if "assessments" in endpoints:
        _assessments(checker, casebook, endpoints["assessments"])
    if "adverse_events" in endpoints:
        _adverse_events(checker, casebook, endpoints["adverse_events"])
    _subject_items(checker, casebook, "strata", plan.get("strata") or [])
    _subject_items(checker, casebook, "subgroups", plan.get("subgroups") or [])
    reference = (plan.get("settings") or {}).get("reference_arm")
    if reference is not None and reference not in casebook.arms:
        checker.error(
            (*PLAN, "settings", "reference_arm"),
            f"{reference!r} is not an arm of the study ({', '.join(casebook.arms)}).",
        )
    _primary(checker, plan)
    if plan.get("method") == "simon-two-stage":
        for key in ("stage_1", "final"):
            if key not in plan:
                checker.error((*PLAN, "method"), f"a Simon two-stage plan needs {key}: [r, n].")
    if plan.get("method") == "group-sequential" and "information_fractions" not in plan:
        checker.error((*PLAN, "method"), "a group-sequential plan needs information_fractions.")
