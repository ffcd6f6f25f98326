"""Pages of data capture: a subject's casebook, and the case report form with live validation,
repeating rows, missing-data codes, the reason for a change, each item's history, "not done" and
its reopening. A repeating form (one instance per adverse event…) is one page per instance,
``?repeat=N`` on each of its addresses.

Thin on purpose: each view finds the subject among those the person may see (an unknown and a
forbidden one are the same 404), reads through the selectors and writes through the save
pipeline the API and imports use. Live validation is the same pipeline in a dry run. Every
page works without JavaScript: htmx only saves a round trip.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    QueryDict,
)
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from carnet.accounts.blinding import blinding_of
from carnet.accounts.models import User
from carnet.accounts.permissions import PermissionDenied, may
from carnet.accounts.roles import Action
from carnet.accounts.selectors import study_for_actor
from carnet.capture import selectors, services
from carnet.capture.annotations import Mark, casebook_marks, form_marks, occurrence_marks
from carnet.capture.files import document_path
from carnet.capture.forms import (
    FORM_STATUS_LABELS,
    GroupView,
    OtherChange,
    conflict_changes,
    empty_row,
    form_layout,
    language_of,
    mark_hidden,
    next_row,
    place_checks,
    place_errors,
    place_id,
    submission,
)
from carnet.capture.models import CheckResult, FormStatus
from carnet.capture.modes import study_entry_refusal
from carnet.capture.rules import FormRules, study_rules
from carnet.capture.services import FormConflict, FormErrors
from carnet.capture.uploads import UploadTooLarge, upload_limit_megabytes, uploads_limit
from carnet.core.errors import CarnetError
from carnet.studies.definition.model import Event, Form, Item, StudyDefinition
from carnet.subjects.forms import WINDOW_LABELS
from carnet.subjects.models import Subject
from carnet.subjects.schedule import WindowStatus
from carnet.subjects.selectors import subject_for_actor
from carnet.subjects.services import entry_refusal, site_today

# --- finding what the person may see ----------------------------------------------------------


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)
    return user


def _language() -> str:
    return language_of(get_language())


def _subject(request: HttpRequest, identifier: str, subject: str) -> Subject:
    """Return the subject when the person may see it; 404 for unknown and forbidden alike."""
    try:
        study = study_for_actor(_user(request), identifier)
        found = subject_for_actor(_user(request), study=study, identifier=subject)
    except PermissionDenied as error:
        raise Http404(str(error)) from error
    if study.current_version is None:
        raise Http404("This study has no published version.")
    return found


def _form_url(subject: Subject, event: str, occurrence: int, form: str) -> str:
    """Return the address of one form of one event occurrence of a subject (no query)."""
    return reverse(
        "capture:form", args=[subject.study.identifier, subject.identifier, event, occurrence, form]
    )


@dataclass(frozen=True)
class _Target:
    """One form of one event occurrence of a subject, known to exist in the study."""

    subject: Subject
    definition: StudyDefinition
    event: Event
    occurrence: int
    rules: FormRules
    repeat: int = 1  # the instance of a repeating form (an adverse event…); 1 otherwise

    @property
    def form(self) -> str:
        return self.rules.form.name

    @property
    def repeating(self) -> bool:
        return self.rules.form.repeating

    @property
    def url(self) -> str:
        """Return the address the form's pages hang from (validate/, not-done/…), no query."""
        return _form_url(self.subject, self.event.name, self.occurrence, self.form)

    @property
    def query(self) -> str:
        """Return what every address of the form's pages ends with to reach this instance."""
        return _repeat_query(self.repeating, self.repeat)

    @property
    def page(self) -> str:
        return self.url + self.query

    def where(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "event": self.event.name,
            "occurrence": self.occurrence,
            "form": self.form,
            "repeat": self.repeat,
        }

    def addresses(self) -> dict[str, Any]:
        """Return what templates need to build this instance's addresses."""
        return {
            "url": self.url,
            # What capture's named addresses of this form take, before their own (an item…).
            "form_args": (
                self.subject.study.identifier,
                self.subject.identifier,
                self.event.name,
                self.occurrence,
                self.form,
            ),
            "query": self.query,
            "here": self.page,
            "repeat": self.repeat if self.repeating else 0,
        }


def _repeat_query(repeating: bool, repeat: int) -> str:
    # Forms that do not repeat keep their plain address; those that do always say which one.
    return f"?repeat={repeat}" if repeating else ""


def _target(
    request: HttpRequest, identifier: str, subject: str, event: str, occurrence: int, form: str
) -> _Target:
    found = _subject(request, identifier, subject)
    version = found.study.current_version
    assert version is not None
    rules = study_rules(version)
    scheduled = rules.definition.event(event)
    if (
        scheduled is None
        or form not in scheduled.forms
        or occurrence < 1
        or (occurrence > 1 and not scheduled.repeating)
    ):
        raise Http404("There is no such form.")
    form_rules = rules.forms[form]
    try:
        repeat = int(request.GET.get("repeat", "1"))
    except ValueError:
        repeat = 0
    if repeat < 1 or (repeat > 1 and not form_rules.form.repeating):
        raise Http404("There is no such instance of the form.")
    if repeat > 1 and repeat > selectors.last_repeat(found, event, occurrence, form) + 1:
        # The pages open the instances there are and the next one: never a gap in the numbers.
        raise Http404("There is no such instance of the form.")
    return _Target(found, rules.definition, scheduled, occurrence, form_rules, repeat)


def _may_enter(request: HttpRequest, subject: Subject) -> bool:
    return may(_user(request), Action.ENTER_DATA, study=subject.study, site=subject.site)


def _blinded(request: HttpRequest, subject: Subject) -> bool:
    return not blinding_of(_user(request), study=subject.study).unblinded


# --- the casebook -----------------------------------------------------------------------------

# A long repeating event (60 treatment cycles…) folds its first finished occurrences into one
# column, keeping the last FOLD_KEEP finished ones in view; folding fewer than FOLD_LEAST would
# only hide, not shorten.
FOLD_KEEP = 4
FOLD_LEAST = 3
# A cell listing more instances of a repeating form than this folds them behind a summary.
REPEATS_SHOWN = 6
COLUMN_LABELS: dict[str, Any] = {
    **WINDOW_LABELS,
    selectors.NOT_SCHEDULED: gettext_lazy("not yet scheduled"),
    selectors.RECORDED: gettext_lazy("recorded"),
}


def _where(event: Event, number: int, language: str) -> str:
    """Return how a person names an event occurrence: "Cycle 3"; an unscheduled event's first
    (often only) occurrence goes without its number."""
    label = event.label.text(language)
    return label if event.unscheduled and number == 1 else f"{label} {number}"


def _status_counts(statuses: list[str]) -> str:
    """Return "12 complete, 1 not done": how many forms have each status, in workflow order."""
    return ", ".join(
        f"{statuses.count(status)} {label}"
        for status, label in FORM_STATUS_LABELS.items()
        if statuses.count(status)
    )


def _repeat_cell(
    instances: tuple[selectors.CasebookInstance, ...],
    *,
    url: str,
    form_label: str,
    where: str,
    may_enter: bool,
    marks: dict[int, list[Mark]] | None = None,
) -> dict[str, Any]:
    """Return a casebook cell listing each instance of a repeating form, and the next one."""
    marks = marks or {}
    repeats = [
        {
            "number": instance.repeat,
            "where": f"{form_label} {instance.repeat}, {where}",
            "url": url + _repeat_query(True, instance.repeat),
            "status": instance.status,
            "status_label": FORM_STATUS_LABELS.get(instance.status, instance.status),
            "open_checks": instance.open_checks,
            "marks": marks.get(instance.id, []),
        }
        for instance in instances
    ]
    following = instances[-1].repeat + 1 if instances else 1
    return {
        "where": f"{form_label}, {where}",
        # Without any instance yet the cell opens the first one, as any other form's cell.
        "url": url + _repeat_query(True, 1),
        "status": FormStatus.NOT_STARTED,
        "status_label": FORM_STATUS_LABELS[FormStatus.NOT_STARTED],
        "open_checks": 0,
        "repeats": repeats,
        "fold": _status_counts([i.status for i in instances])
        if len(repeats) > REPEATS_SHOWN
        else "",
        "add_url": url + _repeat_query(True, following) if repeats and may_enter else "",
    }


def _form_cell(
    cell: selectors.CasebookCell,
    form: Form,
    *,
    subject: Subject,
    where: str,
    language: str,
    may_enter: bool,
    marks: dict[int, list[Mark]] | None = None,
) -> dict[str, Any]:
    url = _form_url(subject, cell.event, cell.occurrence, cell.form)
    marks = marks or {}
    if form.repeating:
        return _repeat_cell(
            cell.instances,
            url=url,
            form_label=form.label.text(language),
            where=where,
            may_enter=may_enter,
            marks=marks,
        )
    return {
        "where": f"{form.label.text(language)}, {where}",
        "url": url,
        "status": cell.status,
        "status_label": FORM_STATUS_LABELS.get(cell.status, cell.status),
        "open_checks": cell.open_checks,
        "marks": marks.get(cell.instance_id, []) if cell.instance_id else [],
    }


def _column_head(column: selectors.CasebookColumn, language: str) -> dict[str, Any]:
    return {
        "where": _where(column.event, column.number, language),
        "number": column.number if column.event.repeating else 0,
        "date": column.target or column.done_on,
        "done_on": column.done_on if column.target and column.done_on != column.target else None,
        "earliest": column.earliest,
        "latest": column.latest,
        "status": column.status,
        "status_label": COLUMN_LABELS.get(column.status, column.status),
        "overdue": column.status == WindowStatus.OVERDUE,
    }


def _folded(columns: list[selectors.CasebookColumn]) -> int:
    """Return how many of an event's first occurrences fold: the finished ones but the last
    FOLD_KEEP of them, the most recent, still corrected now and then (0 when that would hide
    fewer than FOLD_LEAST)."""
    finished = 0
    while finished < len(columns) and columns[finished].finished:
        finished += 1
    folded = finished - FOLD_KEEP
    return folded if folded >= FOLD_LEAST else 0


def _folded_column(
    columns: list[selectors.CasebookColumn],
    forms: tuple[Form, ...],
    *,
    subject: Subject,
    language: str,
    may_enter: bool,
) -> tuple[dict[str, Any], list[dict[str, Any] | None]]:
    """Return the head of a column standing for several finished occurrences, and its cells:
    per form, how many of each status, and behind that summary a link to every instance."""
    first, last = columns[0], columns[-1]
    head = {
        "folded": True,
        "first": first.number,
        "last": last.number,
        "where": f"{_where(first.event, first.number, language)} – {last.number}",
        "date": first.done_on or first.target,
        "date_last": last.done_on or last.target,
        "status": "finished",
        "status_label": _("every form finished"),
    }
    cells: list[dict[str, Any] | None] = []
    for form in forms:
        if form.name not in first.event.forms:
            cells.append(None)
            continue
        index = first.event.forms.index(form.name)
        entries: list[dict[str, Any]] = []
        statuses: list[str] = []
        for column in columns:
            where = _where(column.event, column.number, language)
            cell = _form_cell(
                column.cells[index],
                form,
                subject=subject,
                where=where,
                language=language,
                may_enter=may_enter,
            )
            if form.repeating:
                for repeat in cell["repeats"]:
                    entries.append({**repeat, "number": f"{column.number}.{repeat['number']}"})
                    statuses.append(repeat["status"])
            else:
                entries.append({**cell, "number": column.number})
                statuses.append(cell["status"])
        cells.append({"folded": True, "summary": _status_counts(statuses), "entries": entries})
    return head, cells


def _new_occurrences(
    book: selectors.Casebook, *, subject: Subject, language: str
) -> list[dict[str, Any]]:
    """Return the next occurrence of each event one may add by hand: an unscheduled event that
    already took place, and a repeating event the schedule cannot place yet but that holds data
    (the schedule offers the next occurrence of the others itself)."""
    last: dict[str, int] = {}
    placed: set[str] = set()
    for column in book.columns:
        if column.status == selectors.NOT_SCHEDULED:
            continue  # its first occurrence is there to open
        last[column.event.name] = max(last.get(column.event.name, 0), column.number)
        if column.status != selectors.RECORDED:
            placed.add(column.event.name)
    forms = {form.name: form for form in book.forms}
    offered = []
    for event in book.definition.events:
        if event.name not in last or not event.repeating:
            continue
        if not event.unscheduled and event.name in placed:
            continue
        number = last[event.name] + 1
        offered.append(
            {
                "where": _where(event, number, language),
                "forms": [
                    {
                        "label": forms[name].label.text(language),
                        "url": _form_url(subject, event.name, number, name)
                        + _repeat_query(forms[name].repeating, 1),
                    }
                    for name in event.forms
                ],
            }
        )
    return offered


def _unscheduled(
    book: selectors.Casebook, *, subject: Subject, language: str
) -> list[dict[str, Any]]:
    """Return the unscheduled events that have not taken place yet, each with its forms."""
    seen = {column.event.name for column in book.columns}
    forms = {form.name: form for form in book.forms}
    found = []
    for event in book.definition.events:
        if not event.unscheduled or event.name in seen:
            continue
        entries = [
            {
                "label": forms[name].label.text(language),
                "url": _form_url(subject, event.name, 1, name)
                + _repeat_query(forms[name].repeating, 1),
            }
            for name in event.forms
        ]
        found.append({"label": event.label.text(language), "forms": entries})
    return found


@login_required
@require_GET
def casebook_page(request: HttpRequest, identifier: str, subject: str) -> HttpResponse:
    """Return the subject's casebook: event occurrences (columns, grouped by event) × forms
    (rows), coloured by status.

    Every occurrence that holds a visit date or a form shows, whatever the schedule computes; a
    long repeating event folds its first finished occurrences into one column (``?all=1`` shows
    them one by one). A repeating form's cell lists each of its instances and offers the next
    one to whoever may enter data.
    """
    found = _subject(request, identifier, subject)
    book = selectors.casebook(_user(request), found)
    marks = casebook_marks(_user(request), found)
    column_marks = occurrence_marks(_user(request), found)
    language = _language()
    may_enter = _may_enter(request, found)
    unfold = request.GET.get("all") == "1"
    by_event: dict[str, list[selectors.CasebookColumn]] = {}
    for column in book.columns:
        by_event.setdefault(column.event.name, []).append(column)
    groups, heads = [], []
    cells: list[list[dict[str, Any] | None]] = []  # per column, one per form of the study
    folded_any = False
    for columns in by_event.values():
        event = columns[0].event
        folded = 0 if unfold else _folded(columns)
        folded_any = folded_any or folded > 0
        groups.append(
            {
                "label": event.label.text(language),
                "span": len(columns) - folded + (1 if folded else 0),
                "count": len(columns) if event.repeating else 0,
            }
        )
        if folded:
            head, column_cells = _folded_column(
                columns[:folded], book.forms, subject=found, language=language, may_enter=may_enter
            )
            heads.append(head)
            cells.append(column_cells)
        for column in columns[folded:]:
            where = _where(event, column.number, language)
            heads.append(
                {
                    **_column_head(column, language),
                    "marks": column_marks.get((event.name, column.number), []),
                }
            )
            cells.append(
                [
                    _form_cell(
                        column.cells[event.forms.index(form.name)],
                        form,
                        subject=found,
                        where=where,
                        language=language,
                        may_enter=may_enter,
                        marks=marks,
                    )
                    if form.name in event.forms
                    else None
                    for form in book.forms
                ]
            )
    rows = [
        {"label": form.label.text(language), "cells": [column[index] for column in cells]}
        for index, form in enumerate(book.forms)
    ]
    return render(
        request,
        "capture/casebook.html",
        {
            "study": found.study,
            "subject": found,
            "groups": groups,
            "columns": heads,
            "rows": rows if heads else [],
            "unscheduled": _unscheduled(book, subject=found, language=language),
            "new_occurrences": _new_occurrences(book, subject=found, language=language)
            if may_enter
            else [],
            "folded_any": folded_any,
            "unfolded": unfold,
        },
    )


# --- the form page ----------------------------------------------------------------------------


def _check_messages(checks: list[CheckResult]) -> list[tuple[list[str], str, int]]:
    french = _language() == "fr"
    return [
        (
            list(check.items),
            (check.message_fr or check.message_en) if french else check.message_en,
            check.row,
        )
        for check in checks
    ]


def _labels(target: _Target) -> dict[str, str]:
    language = _language()
    return {name: item.label.text(language) for name, item in target.rules.items.items()}


def _hidden_now(request: HttpRequest, target: _Target, version: int) -> set[str]:
    """Return the items branching hides on the stored values (a dry run of an empty save)."""
    if not _may_enter(request, target.subject):
        return set()
    try:
        outcome = services.form_save(
            actor=_user(request), **target.where(), base_version=version, dry_run=True
        )
    except CarnetError:
        return set()  # the form cannot be entered now: show every item
    return set(outcome.hidden)


def _version(post: QueryDict) -> int | None:
    try:
        return int(post.get("version", ""))
    except ValueError:
        return None


def _layout(
    request: HttpRequest,
    target: _Target,
    state: dict[str, Any],
    *,
    post: QueryDict | None = None,
    add_row: str = "",
) -> list[GroupView]:
    return form_layout(
        target.definition,
        target.rules,
        state,
        language=_language(),
        blinded=_blinded(request, target.subject),
        post=post,
        add_row=add_row,
    )


def _entry_closed(request: HttpRequest, target: _Target, state: dict[str, Any]) -> tuple[str, str]:
    """Return why the form is shown read-only and what closes it ("right", "study", "not done",
    "subject"), or two empty strings when the person may change it now."""
    subject = target.subject
    if not _may_enter(request, subject):
        return _("You may read this form; you may not change it."), "right"
    closed = study_entry_refusal(subject.study)
    if closed:
        return closed, "study"
    # Whatever the date of the data (date.min): a screen failure, an objection to data use.
    refusal = entry_refusal(subject, on=date.min)
    if refusal:
        return _("No data may be entered: %(why)s.") % {"why": refusal}, "subject"
    if state["status"] == FormStatus.NOT_DONE:
        return _("This form is marked not done: reopen it to enter data."), "not done"
    return "", ""


def _entry_note(target: _Target) -> str:
    """Return what limits entry without closing the form (a withdrawal from follow-up)."""
    refusal = entry_refusal(target.subject, on=site_today(target.subject.site))
    return _("Note: %(why)s.") % {"why": refusal} if refusal else ""


def _marks_place(
    request: HttpRequest, state: dict[str, Any], groups: list[GroupView]
) -> tuple[list[Mark], list[str]]:
    """Put other parts' marks (open queries…) next to their items; return the form's own marks
    and the panels the page loads beside the form."""
    instance = state.get("instance")
    if instance is None or instance.pk is None:
        return [], []
    form_level: list[Mark] = []
    panels: list[str] = []
    cells = {(cell.spec.name, cell.row): cell for g in groups for cell in g.all_cells()}
    for found in form_marks(_user(request), instance):
        if found.panel_url:
            panels.append(found.panel_url)
        for (item, row), mark in found.marks.items():
            cell = cells.get((item, row))
            if cell is not None:
                cell.marks.append(mark)
            else:
                form_level.append(mark)
    return form_level, panels


def _render_form(
    request: HttpRequest,
    target: _Target,
    state: dict[str, Any],
    groups: list[GroupView],
    *,
    version: int | None,
    elsewhere: dict[str, str] | None = None,
    conflict: list[OtherChange] | None = None,
    reason: str = "",
    complete: bool = False,
    status: int = 200,
) -> HttpResponse:
    language = _language()
    definition = target.definition
    elsewhere = dict(elsewhere or {})
    reason_error = elsewhere.pop("reason", "")
    read_only, closed_by = _entry_closed(request, target, state)
    can_enter = not read_only
    # Reopening is offered only where "not done" is all that keeps the form closed.
    reopen_allowed = closed_by == "not done"
    reasons = {m.code: m.label.text(language) for m in definition.not_done_reasons}
    form_level, panels = _marks_place(request, state, groups)
    return render(
        request,
        "capture/form.html",
        {
            "study": target.subject.study,
            "subject": target.subject,
            **target.addresses(),
            "event_label": target.event.label.text(language),
            "occurrence": target.occurrence,
            "form_label": target.rules.form.label.text(language),
            "guideline": target.rules.form.guideline.text(language),
            "status": state["status"],
            "status_label": FORM_STATUS_LABELS.get(state["status"], state["status"]),
            "not_done_reason": reasons.get(state["not_done_reason"], state["not_done_reason"]),
            "reopen_allowed": reopen_allowed,
            "read_only": read_only,
            "entry_note": _entry_note(target) if can_enter else "",
            "version": version if version is not None else "",
            "groups": groups,
            "can_enter": can_enter,
            "missing_codes": [(m.code, m.label.text(language)) for m in definition.missing_codes],
            "not_done_allowed": target.rules.form.not_done_allowed and can_enter,
            "not_done_reasons": [
                (m.code, m.label.text(language)) for m in definition.not_done_reasons
            ],
            "completed": state["status"] == FormStatus.COMPLETE,
            "complete": complete,
            "reason": reason,
            "elsewhere": elsewhere,
            "reason_error": reason_error,
            "conflict": conflict,
            "form_marks": form_level,
            "panels": panels,
        },
        status=status,
    )


@login_required
@require_http_methods(["GET", "POST"])
def form_page(
    request: HttpRequest, identifier: str, subject: str, event: str, occurrence: int, form: str
) -> HttpResponse:
    """Show a form instance; save it (the whole page is one save, all or nothing)."""
    target = _target(request, identifier, subject, event, occurrence, form)
    user = _user(request)
    state = selectors.form_state(user, **target.where())
    checks = _check_messages(state["checks"])
    if request.method == "GET":
        groups = _layout(request, target, state)
        place_checks(groups, checks)
        mark_hidden(groups, _hidden_now(request, target, state["version"]))
        return _render_form(request, target, state, groups, version=state["version"])

    post = request.POST
    version = _version(post)
    reason, complete = post.get("reason", ""), bool(post.get("complete"))
    add_row = post.get("add_row", "")
    if add_row:
        # "Add a row" without JavaScript: the same page, what was typed, one more empty row.
        groups = _layout(request, target, state, post=post, add_row=add_row)
        return _render_form(
            request, target, state, groups, version=version, reason=reason, complete=complete
        )
    if not _may_enter(request, target.subject):
        raise Http404("You may not enter data here.")
    groups = _layout(request, target, state, post=post)
    sent = submission(groups)
    if sent.errors:
        elsewhere = place_errors(groups, sent.errors)
        return _render_form(
            request,
            target,
            state,
            groups,
            version=version,
            elsewhere=elsewhere,
            reason=reason,
            complete=complete,
            status=400,
        )
    try:
        outcome = services.form_save(
            actor=user,
            **target.where(),
            base_version=version,
            values=sent.values,
            rows=sent.rows,
            complete=complete,
            reason=reason,
        )
    except FormErrors as refusal:
        # The pipeline speaks the page language, hard edit checks included.
        elsewhere = place_errors(groups, refusal.errors)
        return _render_form(
            request,
            target,
            state,
            groups,
            version=version,
            elsewhere=elsewhere,
            reason=reason,
            complete=complete,
            status=400,
        )
    except FormConflict as conflict:
        # Nothing typed is lost: the page keeps it, takes in the other changes where the person
        # left the item as it was, and is based on the current version so that it can be saved.
        before = selectors.values_at_version(
            user,
            **target.where(),
            version=version or 0,
            places=[(c["item"], c["row"]) for c in conflict.changes],
        )
        others = conflict_changes(groups, conflict.changes, before=before, labels=_labels(target))
        return _render_form(
            request,
            target,
            selectors.form_state(user, **target.where()),
            groups,
            version=conflict.current_version,
            conflict=others,
            reason=reason,
            complete=complete,
            status=409,
        )
    except CarnetError as error:
        messages.error(request, str(error))
        return _render_form(
            request,
            target,
            state,
            groups,
            version=version,
            reason=reason,
            complete=complete,
            status=400,
        )
    if outcome.changed or complete:
        messages.success(request, _("The form is saved."))
    else:
        messages.info(request, _("Nothing changed."))
    if outcome.soft_checks:
        messages.warning(
            request,
            _("%(count)s check(s) to look at: see the messages next to the items.")
            % {"count": len(outcome.soft_checks)},
        )
    return HttpResponseRedirect(target.page)


@login_required
@require_POST
def form_validate(
    request: HttpRequest, identifier: str, subject: str, event: str, occurrence: int, form: str
) -> HttpResponse:
    """Return what a save of the posted page would say, writing nothing (htmx, on change)."""
    target = _target(request, identifier, subject, event, occurrence, form)
    if not _may_enter(request, target.subject):
        raise Http404("You may not enter data here.")
    user = _user(request)
    state = selectors.form_state(user, **target.where())
    post = request.POST
    groups = _layout(request, target, state, post=post)
    sent = submission(groups)
    errors = dict(sent.errors)
    conflict: list[OtherChange] | None = None
    problem = ""
    hidden: set[str] | None = None
    if not errors:
        try:
            outcome = services.form_save(
                actor=user,
                **target.where(),
                base_version=_version(post),
                values=sent.values,
                rows=sent.rows,
                complete=bool(post.get("complete")),
                reason=post.get("reason", ""),
                dry_run=True,
            )
        except FormErrors as refusal:
            errors = dict(refusal.errors)
        except FormConflict as found:
            conflict = conflict_changes(groups, found.changes, labels=_labels(target))
        except CarnetError as error:
            problem = str(error)
        else:
            hidden = set(outcome.hidden)
            place_checks(groups, _check_messages(outcome.soft_checks))
            cells = {cell.id: cell for g in groups for cell in g.all_cells()}
            for change in outcome.changed:
                cell = cells.get(place_id(change["place"]))
                if cell is not None and cell.spec.kind == "calculated":
                    cell.text = change["new"]["text"]
    elsewhere = place_errors(groups, errors)
    reason_error = elsewhere.pop("reason", "")
    if hidden is not None:
        mark_hidden(groups, hidden)
    return render(
        request,
        "capture/_live.html",
        {
            "groups": groups,
            "cells": [cell for g in groups for cell in g.all_cells()],
            "elsewhere": elsewhere,
            "reason_error": reason_error,
            "conflict": conflict,
            "subject": target.subject,
            "problem": problem,
            "hidden": hidden,
            **target.addresses(),
        },
    )


@login_required
@require_GET
def row_new(
    request: HttpRequest,
    identifier: str,
    subject: str,
    event: str,
    occurrence: int,
    form: str,
    group: str,
) -> HttpResponse:
    """Return an empty row of a repeating group, numbered after those on the page (htmx)."""
    target = _target(request, identifier, subject, event, occurrence, form)
    if not _may_enter(request, target.subject) or group not in target.rules.repeating_groups:
        raise Http404("There is no such group.")
    row = empty_row(
        target.definition,
        target.rules,
        group,
        next_row(
            request.GET,
            group,
            used=selectors.last_rows(**target.where()).get(group, 0),
        ),
        language=_language(),
        blinded=_blinded(request, target.subject),
    )
    return render(
        request,
        "capture/_row.html",
        {
            "row": row,
            "group": group,
            **target.addresses(),
            "can_enter": True,
            "missing_codes": [
                (m.code, m.label.text(_language())) for m in target.definition.missing_codes
            ],
        },
    )


@login_required
@require_GET
def item_history_page(
    request: HttpRequest,
    identifier: str,
    subject: str,
    event: str,
    occurrence: int,
    form: str,
    item: str,
) -> HttpResponse:
    """Return every change of one item's value: who, when, old, new, why (htmx: the panel)."""
    target = _target(request, identifier, subject, event, occurrence, form)
    found = target.rules.items.get(item)
    if found is None:
        raise Http404("There is no such item.")
    try:
        row = max(int(request.GET.get("row", "0")), 0)
    except ValueError:
        row = 0
    history = selectors.item_history(_user(request), **target.where(), item=item, row=row)
    context = {
        "study": target.subject.study,
        "subject": target.subject,
        **target.addresses(),
        "item_label": found.label.text(_language()),
        "row": row,
        "history": history,
    }
    if getattr(request, "htmx", False):
        return render(request, "capture/_history.html", context)
    return render(request, "capture/history.html", context)


def _status_change(
    request: HttpRequest, target: _Target, change: Any, reason: str, done: str
) -> HttpResponse:
    """Run a change of the form's status that needs a reason (not done, reopened); say how it
    went on the form page, refusals included (a stale version says what changed)."""
    if not _may_enter(request, target.subject):
        raise Http404("You may not enter data here.")
    try:
        change(
            actor=_user(request),
            **target.where(),
            base_version=_version(request.POST),
            reason=reason,
        )
    except FormErrors as refusal:
        for message in refusal.errors.values():
            messages.error(request, message)
    except FormConflict as conflict:
        # The form page shows the current values: the message names what changed, by label.
        changes = conflict_changes([], conflict.changes, labels=_labels(target))
        messages.error(
            request,
            _(
                "The form changed since you opened it (now version %(version)s): %(changes)s. "
                "Reload it, check the changes, and save again."
            )
            % {
                "version": conflict.current_version,
                "changes": ", ".join(
                    _("%(place)s by %(person)s") % {"place": c.label, "person": c.by}
                    for c in changes[:10]
                ),
            },
        )
    except CarnetError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, done)
    return HttpResponseRedirect(target.page)


@login_required
@require_POST
def form_not_done_page(
    request: HttpRequest, identifier: str, subject: str, event: str, occurrence: int, form: str
) -> HttpResponse:
    """Mark the form not done (the examination did not take place), with the reason."""
    target = _target(request, identifier, subject, event, occurrence, form)
    reason = request.POST.get("not_done_reason", "")
    return _status_change(
        request, target, services.form_mark_not_done, reason, _("The form is marked not done.")
    )


@login_required
@require_POST
def form_reopen_page(
    request: HttpRequest, identifier: str, subject: str, event: str, occurrence: int, form: str
) -> HttpResponse:
    """Take back "not done" (the examination was done after all), saying why."""
    target = _target(request, identifier, subject, event, occurrence, form)
    reason = request.POST.get("reason", "")
    return _status_change(request, target, services.form_reopen, reason, _("The form is reopened."))


def _file_item(target: _Target, item: str) -> Item:
    found = target.rules.items.get(item)
    if found is None or found.type != "file":
        raise Http404("There is no such file item.")
    return found


@login_required
# The CSRF check reads the body: it runs in `_file_upload`, once the upload's own handler holds
# the body to the item's size limit (Django's way of changing upload handlers in a view).
@csrf_exempt
@require_http_methods(["GET", "POST"])
def file_page(
    request: HttpRequest,
    identifier: str,
    subject: str,
    event: str,
    occurrence: int,
    form: str,
    item: str,
) -> HttpResponse | FileResponse:
    """GET: download the item's document. POST: upload a new one, saved as the item's value."""
    target = _target(request, identifier, subject, event, occurrence, form)
    found = _file_item(target, item)
    if request.method == "GET":
        return _file_download(request, target, item)
    if not _may_enter(request, target.subject):
        raise Http404("You may not enter data here.")
    uploads_limit(request, upload_limit_megabytes(found))
    try:
        return _file_upload(request, target, item)
    except UploadTooLarge as refusal:
        messages.error(request, str(refusal))
        return HttpResponseRedirect(target.page)


def _file_download(request: HttpRequest, target: _Target, item: str) -> FileResponse:
    state = selectors.form_state(_user(request), **target.where())
    sha256 = state["values"].get(item, {}).get("text", "")
    # The document is reached through a value of this subject the person may see, never
    # by its hash alone: a hash from another site's subject finds nothing here.
    stored = selectors.stored_file(target.subject, sha256)
    if stored is None:
        raise Http404("There is no document here.")
    return FileResponse(
        document_path(stored.sha256).open("rb"),
        as_attachment=True,
        filename=stored.original_name,
        content_type=stored.content_type,
    )


@csrf_protect
def _file_upload(request: HttpRequest, target: _Target, item: str) -> HttpResponse:
    """Save the uploaded document as the item's value (one write, all or nothing)."""
    upload = request.FILES.get("upload")
    if upload is None:
        messages.error(request, _("Choose a file to upload."))
        return HttpResponseRedirect(target.page)
    try:
        services.form_file_attach(
            actor=_user(request),
            **target.where(),
            item=item,
            upload=upload,
            base_version=_version(request.POST),
            reason=request.POST.get("reason", ""),
        )
    except FormErrors as refusal:
        for message in refusal.errors.values():
            messages.error(request, message)
    except CarnetError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, _("The document is uploaded."))
    return HttpResponseRedirect(target.page)
