"""The REDCap-compatible API at /redcap/api/: one form-encoded POST endpoint, as REDCap's.

PyCap and REDCapR send ``token``, ``content``, ``format`` and the content's parameters; the
answer has REDCap's shapes, headers and error bodies. The token is a Carnet token (one
person, one study): rights, site scoping and blinding are those of Carnet's own API. No
session, no CSRF: the token in the body is the only credential.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.utils.cache import add_never_cache_headers
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from carnet.accounts.blinding import blinding_of
from carnet.accounts.models import ApiToken, User
from carnet.accounts.permissions import PermissionDenied, may
from carnet.accounts.roles import Action
from carnet.accounts.services import token_authenticate
from carnet.accounts.sign_in import token_second_factor_missing
from carnet.core.errors import CarnetError
from carnet.oversight.trail import trail_study_check
from carnet.redcap import selectors
from carnet.redcap.formats import (
    FORMATS,
    RedcapError,
    error_response,
    object_response,
    parse_data,
    rows_response,
)
from carnet.redcap.project import METADATA_COLUMNS, RedcapProject
from carnet.redcap.services import eav_to_flat, records_import
from carnet.studies.models import Study

# The REDCap version whose API this one follows (PyCap reads it as a semantic version).
REDCAP_VERSION = "14.5.0"
NO_PERMISSION = "You do not have permissions to use the API"
Response = HttpResponse | StreamingHttpResponse


class _Call:
    """One API call: who asks, about which study, in which format."""

    def __init__(self, request: HttpRequest, token: ApiToken) -> None:
        self.request = request
        self.post = request.POST
        self.user: User = token.user
        self.study: Study = token.study
        self.format = self.post.get("format", "xml") or "xml"
        if self.format not in FORMATS:
            raise RedcapError("The format parameter must be json, csv or xml.")
        version = self.study.current_version
        if version is None:
            raise RedcapError("This study has no published definition yet.")
        self.unblinded = blinding_of(self.user, study=self.study).unblinded
        self.project = RedcapProject(version.parsed(), unblinded=self.unblinded)

    def array(self, name: str) -> tuple[str, ...]:
        """Return an array parameter: ``name[0]``, ``name[1]``… or ``name`` comma-separated."""
        found = [
            (int(match.group(1)), value)
            for key, value in self.post.items()
            if (match := re.fullmatch(re.escape(name) + r"\[(\d*)\]", key))
            and match.group(1).isdigit()
        ]
        values: list[str] = [str(value) for _n, value in sorted(found)]
        values += [str(v) for v in self.post.getlist(f"{name}[]")]
        if not values and self.post.get(name):
            values = [v.strip() for v in self.post[name].split(",") if v.strip()]
        return tuple(values)

    def flag(self, name: str) -> bool:
        return self.post.get(name, "").strip().lower() in {"true", "1", "yes"}

    def moment(self, name: str) -> datetime | None:
        text = self.post.get(name, "").strip()
        if not text:
            return None
        try:
            return datetime.fromisoformat(text)
        except ValueError:
            raise RedcapError(f"The {name} parameter must be YYYY-MM-DD HH:MM:SS.") from None

    def require(self, action: Action) -> None:
        if not may(self.user, action, study=self.study):
            raise PermissionDenied(NO_PERMISSION)


def _version(call: _Call) -> Response:
    return HttpResponse(REDCAP_VERSION, content_type="text/html; charset=utf-8")


def _project(call: _Call) -> Response:
    definition = call.project.definition
    study = call.study
    events = call.project.events()
    repeating = any(e.repeating for e in events) or any(
        i.repeating for i in call.project.instruments
    )
    info = {
        "project_id": study.pk,
        "project_title": definition.title.en or study.identifier,
        "creation_time": study.created_at.strftime("%Y-%m-%d %H:%M:%S"),
        "production_time": "",
        "in_production": 1 if study.mode == "production" else 0,
        "project_language": "English",
        "purpose": 2,
        "purpose_other": "",
        "project_notes": definition.description.en,
        "custom_record_label": "",
        "secondary_unique_field": "",
        "is_longitudinal": 1,
        "has_repeating_instruments_or_events": 1 if repeating else 0,
        "surveys_enabled": 0,
        "scheduling_enabled": 1,
        "record_autonumbering_enabled": 0,
        "randomization_enabled": 1 if definition.randomisation_scheme() else 0,
        "ddp_enabled": 0,
        "project_irb_number": definition.registry.id_rcb,
        "project_grant_number": definition.registry.eu_ct or definition.registry.nct,
        "project_pi_firstname": "",
        "project_pi_lastname": "",
        "display_today_now_button": 1,
        "missing_data_codes": " | ".join(
            f"{code.code}, {code.label.en}" for code in definition.missing_codes
        ),
        "external_modules": "",
        "bypass_branching_erase_field_prompt": 0,
    }
    return object_response(info, format=call.format)


def _metadata(call: _Call) -> Response:
    fields = set(call.array("fields"))
    forms = set(call.array("forms"))
    rows = [
        call.project.metadata_row(f)
        for f in call.project.fields
        if (not fields and not forms) or f.name in fields or f.instrument.name in forms
    ]
    return rows_response(rows, columns=METADATA_COLUMNS, format=call.format)


def _instruments(call: _Call) -> Response:
    rows = [
        {"instrument_name": i.name, "instrument_label": i.label} for i in call.project.instruments
    ]
    return rows_response(rows, columns=["instrument_name", "instrument_label"], format=call.format)


def _field_names(call: _Call) -> Response:
    wanted = call.post.get("field", "")
    project = call.project
    if wanted and wanted not in project.field_by_name:
        raise RedcapError(f"The field '{wanted}' does not exist in this project.")
    rows = [
        {"original_field_name": f.name, "choice_value": code, "export_field_name": column}
        for f in project.fields
        if not wanted or f.name == wanted
        for column, code in project.export_columns(f)
    ]
    columns = ["original_field_name", "choice_value", "export_field_name"]
    return rows_response(rows, columns=columns, format=call.format)


def _arms(call: _Call) -> Response:
    # One schedule, one REDCap arm: the treatment arms never show here (docs/redcap.md).
    rows = [{"arm_num": 1, "name": "Arm 1"}]
    return rows_response(rows, columns=["arm_num", "name"], format=call.format)


def _events(call: _Call) -> Response:
    rows = [
        {
            "event_name": e.label,
            "arm_num": 1,
            "unique_event_name": e.unique_name,
            "custom_event_label": "",
            "event_id": index,
            "days_offset": e.day_offset,
            "offset_min": e.offset_min,
            "offset_max": e.offset_max,
        }
        for index, e in enumerate(call.project.events(), start=1)
    ]
    columns = list(rows[0]) if rows else ["event_name", "arm_num", "unique_event_name"]
    return rows_response(rows, columns=columns, format=call.format)


def _form_event_mapping(call: _Call) -> Response:
    rows = [
        {"arm_num": 1, "unique_event_name": e.unique_name, "form": instrument}
        for e in call.project.events()
        for instrument in e.instruments
    ]
    return rows_response(rows, columns=["arm_num", "unique_event_name", "form"], format=call.format)


def _repeating(call: _Call) -> Response:
    rows: list[dict[str, Any]] = []
    for event in call.project.events():
        if event.repeating:
            rows.append({"event_name": event.unique_name, "form_name": "", "custom_form_label": ""})
            continue
        rows.extend(
            {"event_name": event.unique_name, "form_name": name, "custom_form_label": ""}
            for name in event.instruments
            if call.project.instrument_by_name[name].repeating
        )
    columns = ["event_name", "form_name", "custom_form_label"]
    return rows_response(rows, columns=columns, format=call.format)


def _record(call: _Call) -> Response:
    if call.post.get("action", "export") == "delete":
        raise RedcapError("Records are never deleted in Carnet: a form is marked not done instead.")
    if "data" in call.post:
        return _record_import(call)
    call.require(Action.VIEW_SUBJECTS)
    query = selectors.RecordQuery(
        records=call.array("records"),
        fields=call.array("fields"),
        forms=call.array("forms"),
        events=call.array("events"),
        raw_or_label=call.post.get("rawOrLabel", "raw") or "raw",
        label_headers=call.post.get("rawOrLabelHeaders", "raw") == "label",
        checkbox_labels=call.flag("exportCheckboxLabel"),
        filter_logic=call.post.get("filterLogic", "").strip(),
        begin=call.moment("dateRangeBegin"),
        end=call.moment("dateRangeEnd"),
        data_access_groups=call.flag("exportDataAccessGroups"),
    )
    export = selectors.records_export(
        call.user, study=call.study, project=call.project, query=query
    )
    if call.post.get("type", "flat") == "eav":
        rows = selectors.eav_rows(export, call.project)
        return rows_response(
            rows, columns=selectors.eav_columns(call.project), format=call.format, stream=True
        )
    headers = export.headers if query.label_headers and call.format == "csv" else None
    return rows_response(
        export.rows, columns=export.columns, format=call.format, header=headers, stream=True
    )


def _record_import(call: _Call) -> Response:
    rows = parse_data(call.post["data"], call.format)
    if call.post.get("type", "flat") == "eav":
        rows = eav_to_flat(rows, call.project)
    imported = records_import(
        actor=call.user,
        study=call.study,
        project=call.project,
        rows=rows,
        overwrite=call.post.get("overwriteBehavior", "normal") == "overwrite",
        force_auto_number=call.flag("forceAutoNumber"),
    )
    answer_format = call.post.get("returnFormat", "json") or "json"
    content = call.post.get("returnContent", "count") or "count"
    if content == "ids":
        rows_out = [{"id": name} for name in imported.ids]
        if answer_format == "json":
            return HttpResponse(
                json.dumps(imported.ids), content_type="application/json; charset=utf-8"
            )
        return rows_response(rows_out, columns=["id"], format=answer_format)
    if content == "nothing":
        return HttpResponse("", content_type="text/html; charset=utf-8")
    return object_response({"count": imported.count}, format=answer_format)


def _file(call: _Call) -> Response:
    from carnet.redcap.files import file_export

    return file_export(call)


def _log(call: _Call) -> Response:
    begin = call.moment("beginTime")
    end = call.moment("endTime")
    trail_study_check(call.user, call.study)  # before the answer starts streaming
    rows = selectors.log_rows(
        call.user,
        study=call.study,
        user=call.post.get("user", ""),
        record=call.post.get("record", ""),
        begin=begin.date() if begin else None,
        end=end.date() if end else None,
    )
    return rows_response(rows, columns=selectors.LOG_COLUMNS, format=call.format, stream=True)


def _users(call: _Call) -> Response:
    call.require(Action.VIEW_SUBJECTS)
    if "data" in call.post:
        raise RedcapError("Users are managed in Carnet (memberships); this API only reads them.")
    rows = selectors.users_rows(call.user, study=call.study)
    return rows_response(rows, columns=selectors.USER_COLUMNS, format=call.format)


def _dags(call: _Call) -> Response:
    call.require(Action.VIEW_SUBJECTS)
    if "data" in call.post:
        raise RedcapError("Data access groups are Carnet's sites; this API only reads them.")
    rows = selectors.dag_rows(call.user, study=call.study)
    return rows_response(rows, columns=selectors.DAG_COLUMNS, format=call.format)


CONTENTS: dict[str, Callable[[_Call], Response]] = {
    "version": _version,
    "project": _project,
    "metadata": _metadata,
    "instrument": _instruments,
    "exportFieldNames": _field_names,
    "arm": _arms,
    "event": _events,
    "formEventMapping": _form_event_mapping,
    "repeatingFormsEvents": _repeating,
    "record": _record,
    "file": _file,
    "log": _log,
    "user": _users,
    "dag": _dags,
}


def _authenticated(key: str) -> ApiToken | None:
    token = token_authenticate(key)
    if token is None or token_second_factor_missing(
        token.user, enrolled=getattr(token, "second_factor_enrolled", None)
    ):
        return None
    return token


@csrf_exempt
@require_POST
def api(request: HttpRequest) -> Response:
    """Answer one REDCap API call."""
    post = request.POST
    error_format = post.get("returnFormat") or post.get("format") or "xml"
    if error_format not in FORMATS:
        error_format = "xml"
    token = _authenticated(post.get("token", ""))
    if token is None:
        return _never_cached(error_response(NO_PERMISSION, status=403, return_format=error_format))
    content = post.get("content", "")
    handler = CONTENTS.get(content)
    if handler is None:
        return _never_cached(
            error_response(
                'The value of the parameter "content" is not valid',
                status=400,
                return_format=error_format,
            )
        )
    try:
        call = _Call(request, token)
        if not may(call.user, Action.VIEW_STUDY, study=call.study):
            raise PermissionDenied(NO_PERMISSION)
        response = handler(call)
    except RedcapError as error:
        response = error_response(error.message, status=error.status, return_format=error_format)
    except PermissionDenied as error:
        response = error_response(str(error), status=403, return_format=error_format)
    except CarnetError as error:
        response = error_response(str(error), status=400, return_format=error_format)
    return _never_cached(response)


def _never_cached(response: Response) -> Response:
    add_never_cache_headers(response)
    return response
