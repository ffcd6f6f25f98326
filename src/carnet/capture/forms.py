"""Between a case report form page and the save pipeline: what a page shows for each item, and
what a posted page means to `form_save`.

Posted names: ``v-<item>`` a value and ``m-<item>`` its missing-data code outside repeating
groups; ``v-<group>-<row>-<item>`` and ``m-<group>-<row>-<item>`` in a row; ``row-<group>`` once
per row on the page; ``x-<group>-<row>`` marks a row removed. No rule of the study is decided
here: the pipeline checks every value, this module only carries them.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

from django.http import QueryDict
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from carnet.accounts.blinding import HIDDEN
from carnet.capture.models import FormStatus
from carnet.capture.rules import FormRules
from carnet.capture.services import Missing
from carnet.studies.definition.model import Item, StudyDefinition

FORM_STATUS_LABELS: dict[str, Promise] = {
    FormStatus.NOT_STARTED: gettext_lazy("not started"),
    FormStatus.IN_PROGRESS: gettext_lazy("in progress"),
    FormStatus.COMPLETE: gettext_lazy("complete"),
    FormStatus.NOT_DONE: gettext_lazy("not done"),
}
# The widget each item type gets; anything typed is sent as typed, the pipeline reads it.
KINDS = {
    "text": "text",
    "integer": "number",
    "decimal": "number",
    "date": "date",
    "partial_date": "partial_date",
    "datetime": "datetime",
    "time": "time",
    "boolean": "boolean",
    "single_choice": "choice",
    "multiple_choice": "choices",
    "calculated": "calculated",
    "file": "file",
}
PLACE = re.compile(r"^(?P<group>[\w]+)\[(?P<row>-?\d+)\](?:\.(?P<item>\w+))?$")


def language_of(code: str | None) -> str:
    return "fr" if (code or "en").startswith("fr") else "en"


def cell_id(item: str, group: str = "", row: int = 0) -> str:
    """Return the HTML id stem of one item's cell (its input is f-…, its messages msg-…)."""
    return f"{group}-{row}-{item}" if row else item


def place_id(place: str) -> str:
    """Return the cell id stem of a pipeline place: "target[2].diameter" -> "target-2-diameter"."""
    match = PLACE.match(place)
    if match is None:
        return place
    if match["item"] is None:
        return f"{match['group']}-{match['row']}"
    return f"{match['group']}-{match['row']}-{match['item']}"


@dataclass(frozen=True)
class ItemSpec:
    """One item as the page shows it, whatever row it sits in."""

    name: str
    label: str
    units: str
    kind: str
    hint: str
    required: bool
    choices: tuple[tuple[str, str], ...] = ()
    concealed: bool = False  # arm-revealing, and the person is blinded

    @property
    def enterable(self) -> bool:
        return self.kind not in {"calculated", "file"} and not self.concealed


@dataclass
class Cell:
    """One item in one row (row 0 outside repeating groups), with what to show around it."""

    spec: ItemSpec
    group: str
    row: int
    text: str = ""
    selected: list[str] = field(default_factory=list)
    missing: str = ""
    error: str = ""
    checks: list[str] = field(default_factory=list)
    hidden: bool = False  # branching hides it and it holds nothing
    kept_hidden: bool = False  # branching hides it but a value is kept
    conflict: str = ""  # someone else saved another value here since the page was opened
    marks: list[Any] = field(default_factory=list)  # other parts' badges (open queries…)

    @property
    def id(self) -> str:
        return cell_id(self.spec.name, self.group, self.row)

    @property
    def name(self) -> str:
        return f"v-{self.id}"

    @property
    def missing_name(self) -> str:
        return f"m-{self.id}"

    @property
    def place(self) -> str:
        return f"{self.group}[{self.row}].{self.spec.name}" if self.row else self.spec.name


@dataclass
class RowView:
    group: str
    number: int
    cells: list[Cell]
    removed: bool = False
    error: str = ""

    @property
    def id(self) -> str:
        return f"{self.group}-{self.number}"


@dataclass
class GroupView:
    name: str
    label: str
    repeating: bool
    max_rows: int | None
    specs: list[ItemSpec]
    cells: list[Cell] = field(default_factory=list)
    rows: list[RowView] = field(default_factory=list)
    error: str = ""

    def all_cells(self) -> list[Cell]:
        return self.cells + [cell for row in self.rows for cell in row.cells]


def _hint(item: Item, language: str) -> str:
    parts = []
    guideline = item.guideline.text(language)
    if guideline:
        parts.append(guideline)
    if item.type == "decimal":
        parts.append(_("A decimal comma or point: 72,5 or 72.5."))
    if item.type == "partial_date":
        parts.append(_("A date, a month or a year: 2023-05-14, 2023-05 or 2023."))
    if item.type == "datetime":
        parts.append(_("A date and time: 2026-11-22T14:05."))
    if item.range_min is not None and item.range_max is not None:
        parts.append(_("From %(min)s to %(max)s.") % {"min": item.range_min, "max": item.range_max})
    elif item.range_min is not None:
        parts.append(_("At least %(min)s.") % {"min": item.range_min})
    elif item.range_max is not None:
        parts.append(_("At most %(max)s.") % {"max": item.range_max})
    return " ".join(parts)


def item_spec(definition: StudyDefinition, item: Item, *, language: str, blinded: bool) -> ItemSpec:
    choices: tuple[tuple[str, str], ...] = ()
    if item.code_list:
        code_list = definition.code_list(item.code_list)
        choices = tuple((str(code.code), code.label.text(language)) for code in code_list.items)
    elif item.type == "boolean":
        choices = (("true", _("yes")), ("false", _("no")))
    return ItemSpec(
        name=item.name,
        label=item.label.text(language),
        units=item.units,
        kind=KINDS.get(item.type, "text"),
        hint=_hint(item, language),
        required=item.required and item.type != "calculated",
        choices=choices,
        concealed=item.arm_revealing and blinded,
    )


def _fill(cell: Cell, text: str, missing: str) -> Cell:
    cell.text, cell.missing = text, missing
    cell.selected = (
        [part for part in text.split(",") if part] if cell.spec.kind == "choices" else []
    )
    return cell


def _stored(cell: Cell, shown: dict[str, Any] | None) -> Cell:
    if shown is None:
        return cell
    return _fill(cell, shown["text"], shown["missing"])


def _posted(cell: Cell, post: QueryDict) -> Cell:
    if not cell.spec.enterable:
        return cell
    if cell.spec.kind == "choices":
        _fill(cell, ",".join(post.getlist(cell.name)), post.get(cell.missing_name, ""))
        cell.selected = post.getlist(cell.name)
        return cell
    return _fill(cell, post.get(cell.name, ""), post.get(cell.missing_name, ""))


def _row_numbers(post: QueryDict, group: str) -> list[int]:
    numbers = []
    for raw in post.getlist(f"row-{group}"):
        try:
            numbers.append(int(raw))
        except ValueError:
            continue  # not a row of this page: nothing to carry
    return sorted(set(numbers))


def form_layout(
    definition: StudyDefinition,
    rules: FormRules,
    state: dict[str, Any],
    *,
    language: str,
    blinded: bool,
    post: QueryDict | None = None,
    add_row: str = "",
) -> list[GroupView]:
    """Return the form's groups with their cells: the stored values, or the posted ones."""
    groups = []
    for group in rules.form.groups:
        specs = [
            item_spec(definition, item, language=language, blinded=blinded) for item in group.items
        ]
        view = GroupView(
            name=group.name,
            label=group.label.text(language),
            repeating=group.repeating,
            max_rows=group.max_rows,
            specs=specs,
        )
        if not group.repeating:
            for spec in specs:
                cell = Cell(spec=spec, group=group.name, row=0)
                stored = _stored(cell, state.get("values", {}).get(spec.name))
                view.cells.append(_posted(stored, post) if post is not None else stored)
        else:
            stored_rows: dict[int, dict[str, Any]] = state.get("rows", {}).get(group.name, {})
            numbers = _row_numbers(post, group.name) if post is not None else sorted(stored_rows)
            if not numbers or add_row == group.name:
                used = state.get("last_rows", {}).get(group.name, 0)
                numbers.append(max([*numbers, used]) + 1)
            for number in numbers:
                cells = []
                for spec in specs:
                    cell = _stored(
                        Cell(spec=spec, group=group.name, row=number),
                        stored_rows.get(number, {}).get(spec.name),
                    )
                    cells.append(_posted(cell, post) if post is not None else cell)
                removed = post is not None and bool(post.get(f"x-{group.name}-{number}"))
                view.rows.append(
                    RowView(group=group.name, number=number, cells=cells, removed=removed)
                )
        groups.append(view)
    return groups


def empty_row(
    definition: StudyDefinition,
    rules: FormRules,
    group: str,
    number: int,
    *,
    language: str,
    blinded: bool,
) -> RowView:
    """Return a new, empty row of a repeating group (what "add a row" shows)."""
    found = next(g for g in rules.form.groups if g.name == group)
    return RowView(
        group=group,
        number=number,
        cells=[
            Cell(
                spec=item_spec(definition, item, language=language, blinded=blinded),
                group=group,
                row=number,
            )
            for item in found.items
        ],
    )


def next_row(post: QueryDict, group: str, *, used: int = 0) -> int:
    """Return the number of a row added after those on the page and every row ever used."""
    return max([*_row_numbers(post, group), used]) + 1


@dataclass
class Submission:
    """A posted page as the pipeline takes it, and the mistakes found before it."""

    values: dict[str, Any]
    rows: dict[str, dict[int, dict[str, Any] | None]]
    errors: dict[str, str]


def _raw(cell: Cell, errors: dict[str, str]) -> Any:
    if cell.missing:
        if cell.text.strip():
            errors[cell.place] = _("Enter a value or a missing-data code, not both.")
        return Missing(cell.missing)
    if cell.spec.kind == "choices":
        return list(cell.selected)
    return cell.text


def submission(groups: list[GroupView]) -> Submission:
    """Return what the page's cells mean to `form_save`: every item shown is sent."""
    values: dict[str, Any] = {}
    rows: dict[str, dict[int, dict[str, Any] | None]] = {}
    errors: dict[str, str] = {}
    for group in groups:
        for cell in group.cells:
            if cell.spec.enterable:
                values[cell.spec.name] = _raw(cell, errors)
        for row in group.rows:
            if row.removed:
                rows.setdefault(group.name, {})[row.number] = None
                continue
            rows.setdefault(group.name, {})[row.number] = {
                cell.spec.name: _raw(cell, errors) for cell in row.cells if cell.spec.enterable
            }
    return Submission(values=values, rows=rows, errors=errors)


def place_errors(groups: list[GroupView], errors: dict[str, str]) -> dict[str, str]:
    """Put each error next to its cell, row or group; return those that found no place."""
    by_id: dict[str, Cell] = {cell.id: cell for g in groups for cell in g.all_cells()}
    rows: dict[str, RowView] = {row.id: row for g in groups for row in g.rows}
    group_of: dict[str, GroupView] = {g.name: g for g in groups}
    elsewhere: dict[str, str] = {}
    for place, message in errors.items():
        key = place_id(place)
        if key in by_id:
            by_id[key].error = message
        elif key in rows:
            rows[key].error = message
        elif key in group_of:
            group_of[key].error = message
        else:
            elsewhere[place] = message
    return elsewhere


def place_checks(
    groups: list[GroupView], checks: list[tuple[list[str], str, int]]
) -> list[tuple[list[str], str, int]]:
    """Put each check message next to the items it names: in its row where the check is about
    one row of a repeating group, in every row otherwise."""
    cells = [cell for g in groups for cell in g.all_cells()]
    for items, message, row in checks:
        for cell in cells:
            if cell.spec.name in items and (row == 0 or cell.row == row):
                cell.checks.append(message)
    return checks


def mark_hidden(groups: list[GroupView], hidden: set[str]) -> None:
    """Hide the empty items branching hides; say so on those that keep a value."""
    for cell in (cell for g in groups for cell in g.all_cells()):
        if cell.spec.name in hidden:
            has_value = bool(cell.text or cell.missing) and cell.text != HIDDEN
            cell.hidden, cell.kept_hidden = not has_value, has_value


@dataclass(frozen=True)
class OtherChange:
    """A change someone else saved since the page was opened, as the conflict screen names it."""

    label: str  # the item's label in the page's language ("Weight", "Target lesions 2: Site")
    value: str  # what it holds now, as the page shows it
    by: str
    at: str  # ISO time, UTC; templates show it in the site's time
    kept_mine: bool = False  # the person typed something else there: theirs stays in the box


def _shown(cell: Cell | None, text: str, missing: str, removed: bool) -> str:
    if removed:
        return str(_("row removed"))
    if missing:
        return missing
    if cell is None:
        return text
    if cell.spec.concealed and text:
        return HIDDEN
    labels = dict(cell.spec.choices)
    if cell.spec.kind == "choices":
        return ", ".join(labels.get(code, code) for code in text.split(",") if code)
    return labels.get(text, text)


def _same(typed: tuple[str, str], stored: dict[str, Any] | None) -> bool:
    """Return whether what the page holds is a stored value (identifying text kept as a hash)."""
    text, missing = (stored or {}).get("text", ""), (stored or {}).get("missing", "")
    if text.startswith("sha256:") and typed[0]:
        return typed == (f"sha256:{hashlib.sha256(typed[0].encode()).hexdigest()}", missing)
    return typed == (text, missing)


def conflict_changes(
    groups: list[GroupView],
    changes: list[dict[str, Any]],
    *,
    before: dict[tuple[str, int], dict[str, Any] | None] | None = None,
    labels: dict[str, str] | None = None,
) -> list[OtherChange]:
    """Return the others' changes named by item label; with ``before`` (the values the page was
    opened with), bring each into the page where the person left the item as it was.

    Where the person typed something else, what they typed stays in the box and the cell says
    what the other person saved: nothing typed is lost, nothing saved is overwritten unseen.
    """
    cells = {cell.id: cell for g in groups for cell in g.all_cells()}
    group_labels = {g.name: g.label for g in groups}
    shown: list[OtherChange] = []
    for change in changes:
        cell = cells.get(place_id(change["place"]))
        text, missing = change.get("text", ""), change.get("missing", "")
        removed = bool(change.get("removed"))
        label = cell.spec.label if cell else (labels or {}).get(change["item"], change["place"])
        if change.get("row"):
            match = PLACE.match(change["place"])
            group = cell.group if cell else (match["group"] if match else "")
            label = f"{group_labels.get(group, group)} {change['row']}: {label}"
        kept_mine = False
        if cell is not None and before is not None and cell.spec.enterable:
            typed = (cell.text, cell.missing)
            place = (change["item"], change.get("row", 0))
            if _same(typed, before.get(place)):
                _fill(cell, "" if removed else text, "" if removed else missing)
            elif not _same(typed, {"text": text, "missing": missing}):
                kept_mine = True
                cell.conflict = _(
                    "%(person)s saved “%(value)s” here since you opened the form; what you "
                    "typed is kept: saving replaces it."
                ) % {"person": change["by"], "value": _shown(cell, text, missing, removed)}
        shown.append(
            OtherChange(
                label=label,
                value=_shown(cell, text, missing, removed),
                by=change["by"],
                at=change["at"],
                kept_mine=kept_mine,
            )
        )
    return shown
