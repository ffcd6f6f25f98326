"""API of ODM 1.3.2 imports: a file's clinical data into a study (the bulk path), and a file's
metadata as a study definition (YAML, with what could not be carried over).

No logic here: `odm_file_import` and `odm_study_definition` read the file safely (size limit,
no DTD or entity, the official schema) and do the work; the command and the import page call
the same.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, JsonResponse
from django.utils.translation import gettext as _
from ninja import Field, File, Form, Router, Schema
from ninja.files import UploadedFile

from carnet.accounts.api import request_user
from carnet.accounts.permissions import PermissionDenied
from carnet.capture.bulk.engine import ImportRefused, Problem, import_allowed
from carnet.interop.odm.data_import import odm_file_import
from carnet.interop.odm.reading import odm_limit_bytes
from carnet.interop.odm.study_import import definition_allowed, odm_study_definition
from carnet.studies.api import study_for_request

router = Router(tags=["interop"])


class OdmImportProblemOut(Schema):
    source: str = Field(description="The file and its line (`partner.xml:120`).")
    place: str = Field(description="The attribute or item the problem is about.")
    message: str


class OdmImportOut(Schema):
    dry_run: bool
    records: int = Field(description="Form instances (FormData) read from the file.")
    forms_changed: int
    values_changed: int
    soft_checks: int
    audit_events: int = Field(description="Carnet's events for the changed values.")
    recomputed: int = Field(description="Calculated values in the file, computed again.")
    source_audit_records: int = Field(
        description="The file's AuditRecords, kept as the import's provenance in the trail."
    )
    import_id: str = Field(
        description="Names the import's `odm.imported` and `odm.source_audit_record` events "
        "(empty for a dry run)."
    )
    problems: list[OdmImportProblemOut]


class OdmNotCarriedOut(Schema):
    line: int
    element: str
    message: str


class OdmStudyDefinitionOut(Schema):
    yaml: str = Field(description="The study file (`carnet study validate`, then `load`).")
    not_carried_over: list[OdmNotCarriedOut]


def _problems(problems: list[Problem]) -> list[dict[str, str]]:
    return [{"source": p.source, "place": p.place, "message": p.message} for p in problems]


def _read(upload: UploadedFile) -> bytes:
    """Return the upload's bytes, one over the limit at most (the reader refuses it then)."""
    with upload.open("rb") as stream:
        return stream.read(odm_limit_bytes() + 1)


@router.post(
    "/studies/{identifier}/odm/imports",
    response=OdmImportOut,
    summary="Import the clinical data of an ODM 1.3.2 file through the bulk path, or dry-run it",
    description=(
        "Multipart: `file` (the ODM XML), `reason`, `dry_run`. The file is refused (400, naming "
        "the line) when it is over the size limit, declares a DOCTYPE or an entity, is not "
        "well-formed or not valid ODM 1.3.2. Each FormData is one record of the bulk path: "
        "validated, computed and checked as a save; subjects, events, forms, groups and items "
        "found by SubjectKey and OID. `dry_run` reports every problem (file line, place, why) "
        "and writes nothing; otherwise all or nothing, audited with `reason`, refused with 400 "
        "and the list of problems when there is one. A transactional file's final values are "
        "imported; its AuditRecords are kept as the import's provenance (`odm.source_audit_"
        "record` events). Site staff import their sites' subjects; a data manager any site's."
    ),
)
def odm_import_upload(
    request: HttpRequest,
    identifier: str,
    file: File[UploadedFile],
    reason: Form[str] = "",
    dry_run: Form[bool] = False,
) -> Any:
    study = study_for_request(request, identifier)
    actor = request_user(request)
    if not import_allowed(actor, study):
        raise PermissionDenied(_("You may not import data into this study."))
    try:
        made = odm_file_import(
            actor=actor,
            study=study,
            data=_read(file),
            reason=reason,
            name=file.name or "upload.xml",
            dry_run=dry_run,
        )
    except ImportRefused as refused:
        return JsonResponse(
            {
                "type": "about:blank",
                "title": "Bad Request",
                "status": 400,
                "detail": _("The import has %(count)s problem(s); nothing was written.")
                % {"count": len(refused.problems)},
                "instance": request.path,
                "problems": _problems(refused.problems),
            },
            status=400,
            content_type="application/problem+json",
        )
    outcome = made.outcome
    return {
        "dry_run": outcome.dry_run,
        "records": outcome.records,
        "forms_changed": outcome.instances_changed,
        "values_changed": outcome.values_changed,
        "soft_checks": outcome.soft_checks,
        "audit_events": outcome.audit_events,
        "recomputed": made.recomputed,
        "source_audit_records": made.source_records,
        "import_id": made.import_id,
        "problems": _problems(outcome.problems),
    }


@router.post(
    "/odm/study-definition",
    response=OdmStudyDefinitionOut,
    summary="Turn an ODM 1.3.2 file's metadata into a study definition (YAML); writes nothing",
    description=(
        "Multipart: `file` (the ODM XML), `identifier` (optional: the study's identifier, else "
        "made from the Study OID). Returns the study file `carnet study import-odm` writes and "
        "what could not be carried over, element by element, with its line. Nothing is loaded: "
        "validate and load the YAML with `carnet study`. The file is refused (400, naming the "
        "line) as for an import. For system administrators and whoever manages a study."
    ),
)
def odm_study_definition_make(
    request: HttpRequest, file: File[UploadedFile], identifier: Form[str] = ""
) -> dict[str, Any]:
    if not definition_allowed(request_user(request)):
        raise PermissionDenied(_("You may not turn ODM files into study definitions."))
    read = odm_study_definition(
        _read(file), name=file.name or "upload.xml", identifier=identifier.strip()
    )
    return {
        "yaml": read.yaml(),
        "not_carried_over": [
            {"line": entry.line, "element": entry.element, "message": entry.message}
            for entry in read.not_carried
        ],
    }
