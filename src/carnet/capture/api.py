"""API: a subject's casebook, reading and saving form instances, item history, files."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.http import FileResponse, HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, File, Form, Router, Schema
from ninja.decorators import decorate_view
from ninja.files import UploadedFile

from carnet.accounts.models import User
from carnet.accounts.permissions import PermissionDenied, request_user, site_scope
from carnet.accounts.roles import Action
from carnet.accounts.selectors import study_for_actor, study_for_request
from carnet.capture import selectors, services
from carnet.capture.files import document_path
from carnet.capture.models import ItemValue, StoredFile
from carnet.capture.services import Missing
from carnet.capture.uploads import upload_limit_megabytes, uploads_limit
from carnet.studies.definition.model import Item
from carnet.subjects.models import Subject
from carnet.subjects.selectors import subject_for_actor

router = Router(tags=["capture"])
FORM_PATH = "/{identifier}/subjects/{subject}/forms/{event}/{occurrence}/{form}"


class CasebookInstanceOut(Schema):
    repeat: int
    status: str
    version: int
    open_checks: int


class CasebookCellOut(Schema):
    """A form at an event occurrence: its first instance's status, and every saved instance
    (a repeating form has several; read or save one with `?repeat=N`)."""

    form: str
    status: str
    version: int
    open_checks: int
    instances: list[CasebookInstanceOut]


class CasebookColumnOut(Schema):
    """An event occurrence of the subject: its target date and window (ISO 8601) where the
    schedule places it, the date the visit took place, the visit's status and its forms.

    Every occurrence that holds a visit date or a form instance is listed, whatever the schedule
    computes. `visit_status` is one of upcoming, due, overdue, done, out_of_window, unscheduled
    (an unscheduled event that took place), recorded (a visit date or data where the schedule
    places no occurrence, e.g. its anchor date is unknown) and not_scheduled (an event the
    schedule cannot place yet, with nothing entered: occurrence 1 can still be opened).
    Occurrences come grouped by event in the study's order, then by number."""

    event: str
    occurrence: int
    target: str | None
    window: str | None
    visit_date: str | None
    visit_status: str
    forms: list[CasebookCellOut]

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "event": "cycle",
                    "occurrence": 2,
                    "target": "2026-03-02",
                    "window": "2026-02-27/2026-03-05",
                    "visit_date": "2026-03-03",
                    "visit_status": "done",
                    "forms": [
                        {
                            "form": "vitals",
                            "status": "complete",
                            "version": 2,
                            "open_checks": 1,
                            "instances": [
                                {"repeat": 1, "status": "complete", "version": 2, "open_checks": 1}
                            ],
                        },
                        {
                            "form": "adverse_event",
                            "status": "in_progress",
                            "version": 1,
                            "open_checks": 0,
                            "instances": [
                                {
                                    "repeat": 1,
                                    "status": "in_progress",
                                    "version": 1,
                                    "open_checks": 0,
                                },
                                {"repeat": 2, "status": "complete", "version": 3, "open_checks": 0},
                            ],
                        },
                    ],
                }
            ]
        }
    }


class ValueOut(Schema):
    text: str
    missing: str
    hidden: bool
    by: str


class CheckOut(Schema):
    check: str
    message_en: str
    message_fr: str
    items: list[str]


class FormOut(Schema):
    """A form instance: its status (not_started, in_progress, complete, not_done), the version to
    send back with the next save, its values (canonical text, or the missing-data code; `hidden`
    when branching hides a value that is kept), its repeating groups' rows, and its open checks.
    A blinded person reads `(blinded)` for an arm-revealing value."""

    subject: str
    event: str
    occurrence: int
    form: str
    repeat: int
    status: str
    version: int
    not_done_reason: str
    values: dict[str, ValueOut]
    rows: dict[str, dict[int, dict[str, ValueOut]]]
    checks: list[CheckOut]

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "subject": "01-004",
                    "event": "baseline",
                    "occurrence": 1,
                    "form": "vitals",
                    "repeat": 1,
                    "status": "complete",
                    "version": 4,
                    "not_done_reason": "",
                    "values": {
                        "weight": {
                            "text": "72.5",
                            "missing": "",
                            "hidden": False,
                            "by": "Julie Martin",
                        },
                        "height": {
                            "text": "175",
                            "missing": "",
                            "hidden": False,
                            "by": "Julie Martin",
                        },
                        "packs": {
                            "text": "",
                            "missing": "UNK",
                            "hidden": False,
                            "by": "Julie Martin",
                        },
                    },
                    "rows": {
                        "target": {
                            "1": {
                                "lesion_site": {
                                    "text": "liver",
                                    "missing": "",
                                    "hidden": False,
                                    "by": "Julie Martin",
                                },
                                "diameter": {
                                    "text": "23",
                                    "missing": "",
                                    "hidden": False,
                                    "by": "Julie Martin",
                                },
                            }
                        }
                    },
                    "checks": [
                        {
                            "check": "weight_loss",
                            "message_en": "Weight fell by more than 10% since screening",
                            "message_fr": "Le poids a baissé de plus de 10 % depuis la sélection",
                            "items": ["weight"],
                        }
                    ],
                }
            ]
        }
    }


class FormIn(Schema):
    """A save: the version read, changed values (a value, null to clear, or {"missing": "ND"}),
    changed rows of repeating groups (null removes a row), completion and the reason."""

    version: int = Field(ge=0)
    values: dict[str, Any] = {}
    rows: dict[str, dict[int, dict[str, Any] | None]] = {}
    complete: bool = False
    reason: str = ""

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "version": 3,
                    "values": {
                        "weight": "72,5",
                        "height": 175,
                        "smoker": 1,
                        "packs": {"missing": "UNK"},
                    },
                    "rows": {"target": {"1": {"lesion_site": "liver", "diameter": 23}, "2": None}},
                    "complete": True,
                    "reason": "transcription error",
                }
            ]
        }
    }


class ReasonIn(Schema):
    """The version of the form read, and why its status changes."""

    version: int = Field(ge=0)
    reason: str

    model_config = {
        "json_schema_extra": {
            "examples": [{"version": 2, "reason": "The patient missed the visit (hospitalised)"}]
        }
    }


class HistoryOut(Schema):
    """One change of a value, from the audit trail: when (UTC), who, the old and new text or
    missing-data code, whether the row was removed, and why."""

    at: str
    by: str
    old: str
    old_missing: str
    new: str
    new_missing: str
    removed: bool
    reason: str

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "at": "2026-11-20T14:03:11.412000+00:00",
                    "by": "jmartin (Julie Martin)",
                    "old": "72.5",
                    "old_missing": "",
                    "new": "75.2",
                    "new_missing": "",
                    "removed": False,
                    "reason": "transcription error",
                }
            ]
        }
    }


def _subject(request: HttpRequest, identifier: str, subject: str) -> Subject:
    study = study_for_request(request, identifier)
    return subject_for_actor(request_user(request), study=study, identifier=subject)


def _raw(value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {"missing"}:
        return Missing(str(value["missing"]))
    return value


def _form_out(
    request: HttpRequest, subject: Subject, event: str, occurrence: int, form: str, repeat: int
) -> dict[str, Any]:
    state = selectors.form_state(
        request_user(request), subject, event=event, occurrence=occurrence, form=form, repeat=repeat
    )
    return _form_answer(state, subject, event, occurrence, form, repeat)


def _form_answer(
    state: dict[str, Any], subject: Subject, event: str, occurrence: int, form: str, repeat: int
) -> dict[str, Any]:
    """Return a form as FormOut's fields. Plain data, which the API validates once on the way
    out: building FormOut here would validate every value twice (about 0.7 ms a save)."""
    if not state:
        raise PermissionDenied(_("There is no form '%(form)s'.") % {"form": form})

    def out(value: dict[str, Any]) -> dict[str, Any]:
        return {k: value[k] for k in ("text", "missing", "hidden", "by")}

    return {
        "subject": subject.identifier,
        "event": event,
        "occurrence": occurrence,
        "form": form,
        "repeat": repeat,
        "status": state["status"],
        "version": state["version"],
        "not_done_reason": state["not_done_reason"],
        "values": {name: out(value) for name, value in state["values"].items()},
        "rows": {
            group: {
                row: {name: out(v) for name, v in cells.items()}
                for row, cells in group_rows.items()
            }
            for group, group_rows in state["rows"].items()
        },
        "checks": [
            {
                "check": c.check_name,
                "message_en": c.message_en,
                "message_fr": c.message_fr,
                "items": c.items,
            }
            for c in state["checks"]
        ],
    }


@router.get(
    "/{identifier}/subjects/{subject}/casebook",
    response=list[CasebookColumnOut],
    summary="A subject's casebook: every event occurrence and the status of its forms",
    description=(
        "Every event occurrence the schedule places, and every one holding a visit date or a "
        "form instance whatever the schedule computes; events the schedule cannot place yet "
        "come as not_scheduled."
    ),
)
def casebook(request: HttpRequest, identifier: str, subject: str) -> list[CasebookColumnOut]:
    found = _subject(request, identifier, subject)
    book = selectors.casebook(request_user(request), found)
    columns = []
    for column in book.columns:
        columns.append(
            CasebookColumnOut(
                event=column.event.name,
                occurrence=column.number,
                target=column.target.isoformat() if column.target else None,
                window=(
                    f"{column.earliest.isoformat()}/{column.latest.isoformat()}"
                    if column.earliest and column.latest
                    else None
                ),
                visit_date=column.done_on.isoformat() if column.done_on else None,
                visit_status=column.status,
                forms=[
                    CasebookCellOut(
                        form=c.form,
                        status=c.status,
                        version=c.version,
                        open_checks=c.open_checks,
                        instances=[
                            CasebookInstanceOut(
                                repeat=i.repeat,
                                status=i.status,
                                version=i.version,
                                open_checks=i.open_checks,
                            )
                            for i in c.instances
                        ],
                    )
                    for c in column.cells
                ],
            )
        )
    return columns


@router.get(
    FORM_PATH, response=FormOut, summary="A form instance: values, rows, status, version, checks"
)
def form_read(
    request: HttpRequest,
    identifier: str,
    subject: str,
    event: str,
    occurrence: int,
    form: str,
    repeat: int = 1,
) -> dict[str, Any]:
    return _form_out(
        request, _subject(request, identifier, subject), event, occurrence, form, repeat
    )


@router.put(
    FORM_PATH,
    response=FormOut,
    summary="Save a form instance (the one save pipeline)",
    description=(
        "Refused with 400 and `errors` (one entry per item, row or reason) when a value or a "
        "hard edit check fails; with 409 and `changes` when the form changed since `version`."
    ),
)
def form_write(
    request: HttpRequest,
    identifier: str,
    subject: str,
    event: str,
    occurrence: int,
    form: str,
    payload: FormIn,
    repeat: int = 1,
) -> dict[str, Any]:
    found = _subject(request, identifier, subject)
    actor = request_user(request)
    outcome = services.form_save(
        actor=actor,
        subject=found,
        event=event,
        occurrence=occurrence,
        form=form,
        repeat=repeat,
        base_version=payload.version,
        values={name: _raw(value) for name, value in payload.values.items()},
        rows={
            group: {
                int(row): (None if cells is None else {n: _raw(v) for n, v in cells.items()})
                for row, cells in group_rows.items()
            }
            for group, group_rows in payload.rows.items()
        },
        complete=payload.complete,
        reason=payload.reason,
    )
    # The answer is the save's own result, masked as a read would be, not a second read.
    state = selectors.form_shown(
        actor,
        found,
        form=form,
        instance=outcome.form_instance,
        values=outcome.values,
        checks=outcome.open_checks,
    )
    return _form_answer(state, found, event, occurrence, form, repeat)


def _status_change(
    change: Callable[..., Any],
    request: HttpRequest,
    identifier: str,
    subject: str,
    where: tuple[str, int, str, int],
    payload: ReasonIn,
) -> dict[str, Any]:
    """Run a change of a form's status that needs the version read and a reason."""
    found = _subject(request, identifier, subject)
    event, occurrence, form, repeat = where
    change(
        actor=request_user(request),
        subject=found,
        event=event,
        occurrence=occurrence,
        form=form,
        repeat=repeat,
        base_version=payload.version,
        reason=payload.reason,
    )
    return _form_out(request, found, event, occurrence, form, repeat)


@router.post(
    FORM_PATH + "/not-done", response=FormOut, summary="Mark a form not done, with the reason"
)
def form_not_done(
    request: HttpRequest,
    identifier: str,
    subject: str,
    event: str,
    occurrence: int,
    form: str,
    payload: ReasonIn,
    repeat: int = 1,
) -> dict[str, Any]:
    where = (event, occurrence, form, repeat)
    return _status_change(services.form_mark_not_done, request, identifier, subject, where, payload)


@router.post(
    FORM_PATH + "/reopen",
    response=FormOut,
    summary="Reopen a form marked not done, with the reason",
)
def form_reopen(
    request: HttpRequest,
    identifier: str,
    subject: str,
    event: str,
    occurrence: int,
    form: str,
    payload: ReasonIn,
    repeat: int = 1,
) -> dict[str, Any]:
    where = (event, occurrence, form, repeat)
    return _status_change(services.form_reopen, request, identifier, subject, where, payload)


@router.get(FORM_PATH + "/history", response=list[HistoryOut], summary="Every change of one value")
def history(
    request: HttpRequest,
    identifier: str,
    subject: str,
    event: str,
    occurrence: int,
    form: str,
    item: str,
    row: int = 0,
    repeat: int = 1,
) -> list[HistoryOut]:
    found = _subject(request, identifier, subject)
    return [
        HistoryOut(**{**entry, "at": entry["at"].isoformat()})
        for entry in selectors.item_history(
            request_user(request),
            found,
            event=event,
            occurrence=occurrence,
            form=form,
            item=item,
            row=row,
            repeat=repeat,
        )
    ]


def _file_target(
    request: HttpRequest, identifier: str, subject: str, form: str, item: str
) -> tuple[Subject, Item]:
    """Return the subject and the file item an upload is for, where the person may see them."""
    if hasattr(request, "auth"):
        found = _subject(request, identifier, subject)
    else:
        # A session's CSRF check reads the body (and asks for the limit) before the API knows
        # who asks: the session's person, scoped the same way.
        person = request.user
        assert isinstance(person, User)
        found = subject_for_actor(
            person, study=study_for_actor(person, identifier), identifier=subject
        )
    definition = found.study.current_version.parsed() if found.study.current_version else None
    target = next(
        (
            i
            for f in (definition.forms if definition else ())
            if f.name == form
            for i in f.items()
            if i.name == item and i.type == "file"
        ),
        None,
    )
    if target is None:
        raise PermissionDenied(
            _("There is no file item '%(item)s' on '%(form)s'.") % {"item": item, "form": form}
        )
    return found, target


def _upload_limited(view: Callable[..., Any]) -> Callable[..., Any]:
    """Receive the upload on disk, held to its item's limit as it arrives (capture/uploads.py)."""

    @functools.wraps(view)
    def run(request: HttpRequest, **path: Any) -> Any:
        def limit() -> int:
            where = (path["identifier"], path["subject"], path["form"], path["item"])
            return upload_limit_megabytes(_file_target(request, *where)[1])

        uploads_limit(request, limit)
        return view(request, **path)

    return run


@router.post(
    FORM_PATH + "/files/{item}",
    response=FormOut,
    summary="Upload the document of a file item and save it as the item's value",
    description=(
        "One write: the document (size limit, content type checked), the value and their "
        "audit events, or nothing. `version` is the form's version read; `reason` is needed "
        "to change a complete form. Refused with 413 past the item's size limit (its own, "
        "else the `upload_max_megabytes` setting), as soon as the body passes it; with 409 "
        "and `changes` when the form changed since `version`; with 400 otherwise."
    ),
)
@decorate_view(_upload_limited)
def file_upload(
    request: HttpRequest,
    identifier: str,
    subject: str,
    event: str,
    occurrence: int,
    form: str,
    item: str,
    version: Form[int],
    upload: File[UploadedFile],
    reason: Form[str] = "",
    repeat: int = 1,
) -> dict[str, Any]:
    found, _target = _file_target(request, identifier, subject, form, item)
    services.form_file_attach(
        actor=request_user(request),
        subject=found,
        event=event,
        occurrence=occurrence,
        form=form,
        repeat=repeat,
        item=item,
        upload=upload,
        base_version=version,
        reason=reason,
    )
    return _form_out(request, found, event, occurrence, form, repeat)


@router.get(
    "/{identifier}/files/{sha256}",
    summary="Download a document, where you may see its subject",
    response={200: None},
)
def file_download(request: HttpRequest, identifier: str, sha256: str) -> Any:
    study = study_for_request(request, identifier)
    stored = StoredFile.objects.filter(study=study, sha256=sha256.lower()).first()
    scope = site_scope(request_user(request), Action.VIEW_SUBJECTS, study=study)
    holders = ItemValue.objects.filter(
        text=sha256.lower(), removed=False, form_instance__subject__study=study
    ).values_list("form_instance__subject__site_id", flat=True)
    if stored is None or not any(scope.allows(site_id) for site_id in holders):
        raise PermissionDenied(_("There is no document here you may see."))
    path = document_path(stored.sha256)
    return FileResponse(
        path.open("rb"),
        as_attachment=True,
        filename=stored.original_name,
        content_type=stored.content_type,
    )


class ImportProblemOut(Schema):
    source: str = Field(description="The file and its line (`vitals.csv:12`).")
    place: str = Field(description="The column, or the item and row, the problem is about.")
    message: str


class ImportOut(Schema):
    dry_run: bool
    records: int = Field(description="Form instances read from the files.")
    forms_changed: int
    values_changed: int
    soft_checks: int
    audit_events: int
    subjects_created: int = Field(
        0,
        description="Subjects the import registered (a dry run: would register), when the "
        "study's import settings let it.",
    )
    problems: list[ImportProblemOut]


@router.post(
    "/{identifier}/imports",
    response=ImportOut,
    summary="Import CSV files of form data through the bulk path, or dry-run them",
    description=(
        "One CSV file per form, named after it (`vitals.csv`); `carnet import template` gives "
        "a form's columns. Every value is validated, computed and checked as a save would be; "
        "`dry_run` reports every problem (file, line, column, why) and writes nothing. "
        "Otherwise the import is all or nothing, with one audit event per changed value "
        "carrying `reason`: refused with 400 and the list of problems when there is one. "
        "Site staff import their sites' subjects; a data manager any site's."
    ),
)
def forms_import_upload(
    request: HttpRequest,
    identifier: str,
    files: File[list[UploadedFile]],
    reason: Form[str] = "",
    dry_run: Form[bool] = False,
) -> dict[str, Any]:
    from carnet.capture.bulk import files_import, import_allowed

    study = study_for_request(request, identifier)
    actor = request_user(request)
    if not import_allowed(actor, study):
        raise PermissionDenied(_("You may not import data into this study."))
    outcome = files_import(
        actor=actor,
        study=study,
        files=[(upload.name or "upload.csv", upload.open("rb")) for upload in files],
        reason=reason,
        dry_run=dry_run,
    )
    return {
        "dry_run": outcome.dry_run,
        "records": outcome.records,
        "forms_changed": outcome.instances_changed,
        "values_changed": outcome.values_changed,
        "soft_checks": outcome.soft_checks,
        "audit_events": outcome.audit_events,
        "subjects_created": outcome.subjects_created,
        "problems": [
            {"source": p.source, "place": p.place, "message": p.message} for p in outcome.problems
        ],
    }


class CaptureImportSettingsOut(Schema):
    creates_subjects: bool = Field(
        description="An import registers the subjects its files name and the study does not "
        "know, at the site of their `site` column (a migration); off, it refuses them."
    )


class CaptureImportSettingsIn(Schema):
    creates_subjects: bool
    reason: str = Field(description="Why, kept in the audit trail (required).")


@router.get(
    "/{identifier}/imports/settings",
    response=CaptureImportSettingsOut,
    summary="The study's import settings (whether an import may register subjects)",
)
def import_settings_read(request: HttpRequest, identifier: str) -> dict[str, Any]:
    from carnet.capture.bulk.settings import import_settings_of

    study = study_for_request(request, identifier)
    return {"creates_subjects": import_settings_of(study).creates_subjects}


@router.put(
    "/{identifier}/imports/settings",
    response=CaptureImportSettingsOut,
    summary="Change the study's import settings (whoever manages the whole study), with a reason",
)
def import_settings_change(
    request: HttpRequest, identifier: str, payload: CaptureImportSettingsIn
) -> dict[str, Any]:
    from carnet.capture.bulk.settings import import_settings_set

    study = study_for_request(request, identifier)
    found = import_settings_set(
        actor=request_user(request),
        study=study,
        creates_subjects=payload.creates_subjects,
        reason=payload.reason,
    )
    return {"creates_subjects": found.creates_subjects}
