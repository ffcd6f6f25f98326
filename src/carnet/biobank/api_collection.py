"""API of sample collection: a subject's expected and collected samples per visit, recording a
collection and a processing step, a sample with its SPREC code and deviations, the study's
missing samples. No logic here: selectors and services decide. No clinical value is returned:
a sample names its subject, its visit and the subject's consent to the biobank only."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.http import HttpRequest
from ninja import Field, Router, Schema
from ninja.responses import Status

from carnet.accounts.permissions import request_user
from carnet.accounts.selectors import study_for_request
from carnet.biobank import expected as expected_samples
from carnet.biobank import selectors
from carnet.biobank.collection import deviation_text, sample_collect, sample_process
from carnet.biobank.models import Held, Sample

router = Router(tags=["biobank"])


class BiobankStepOut(Schema):
    kind: str
    started_at: datetime
    ended_at: datetime | None
    temperature: Decimal | None
    force_g: int | None
    braking: bool
    held: str
    fixative: str
    recorded_by: str


class BiobankSampleOut(Schema):
    identifier: str
    subject: str
    site: str
    event: str
    occurrence: int | None
    code: str = Field(description="The protocol's sample code this sample fulfils")
    sample_type: str
    container: str
    volume: Decimal | None
    unit: str
    status: str
    collected_at: datetime | None
    collected_by: str
    sprec: str = Field(description="ISBER SPREC code computed from the processing steps")
    quality: str
    deviations: list[str] = Field(description="The protocol's conditions not met")
    steps: list[BiobankStepOut]


class BiobankExpectedOut(Schema):
    code: str
    type: str
    container: str
    volume: float | None
    unit: str
    aliquots: int
    state: str = Field(description="collected, missing, awaited or optional")
    samples: list[str]


class BiobankVisitOut(Schema):
    event: str
    occurrence: int
    done_on: date | None
    samples: list[BiobankExpectedOut]


class BiobankCollectIn(Schema):
    event: str
    occurrence: int = 1
    code: str = Field(description="The sample code the event expects (study file)")
    collected_at: datetime = Field(description="With its time zone (ISO 8601)")
    collector: str = ""
    volume: Decimal | None = None
    container: str = ""
    held: str = Field(default=Held.ROOM, description="room or cold until processing")
    collection_method: str = Field(default="", description="Tissue: surgery, biopsy…")
    warm_ischaemia_minutes: int | None = None
    haemolysis: str = ""
    volume_sufficient: bool | None = None
    comment: str = ""


class BiobankProcessIn(Schema):
    kind: str = Field(description="centrifugation, second_centrifugation, freezing or fixation")
    started_at: datetime
    ended_at: datetime | None = None
    temperature: Decimal | None = Field(default=None, description="°C")
    force_g: int | None = None
    braking: bool = True
    held: str = Field(default=Held.ROOM, description="room or cold before this step")
    fixative: str = ""
    reason: str = Field(default="", description="Needed to correct a step already recorded")


class BiobankMissingOut(Schema):
    subject: str
    site: str
    event: str
    occurrence: int
    code: str
    visit_on: date


class BiobankMissingListOut(Schema):
    total: int
    samples: list[BiobankMissingOut]


def sample_record(sample: Sample) -> dict[str, Any]:
    collection = getattr(sample, "collection", None)
    return {
        "identifier": sample.identifier,
        "subject": sample.subject.identifier,
        "site": sample.site.code,
        "event": sample.event,
        "occurrence": sample.occurrence,
        "code": sample.expected_code,
        "sample_type": sample.sample_type,
        "container": sample.container,
        "volume": sample.volume,
        "unit": sample.unit,
        "status": sample.status,
        "collected_at": sample.collected_at,
        "collected_by": sample.collected_by,
        "sprec": sample.sprec,
        "quality": sample.quality,
        "deviations": [deviation_text(d) for d in (collection.deviations if collection else [])],
        "steps": selectors.processing_steps(sample),
    }


@router.get(
    "/{identifier}/subjects/{subject}/samples",
    response=list[BiobankVisitOut],
    summary="A subject's samples per visit: expected by the protocol, and collected",
)
def subject_samples(request: HttpRequest, identifier: str, subject: str) -> list[Any]:
    study = study_for_request(request, identifier)
    found = selectors.subject_for_samples(request_user(request), study=study, identifier=subject)
    return [
        {
            "event": visit.event.name,
            "occurrence": visit.number,
            "done_on": visit.done_on,
            "samples": [
                {
                    "code": row.expected.code,
                    "type": row.expected.type,
                    "container": row.expected.container,
                    "volume": row.expected.volume,
                    "unit": row.expected.unit,
                    "aliquots": row.expected.aliquots,
                    "state": row.state,
                    "samples": [sample.identifier for sample in row.samples],
                }
                for row in visit.rows
            ],
        }
        for visit in expected_samples.visit_samples(found)
    ]


@router.post(
    "/{identifier}/subjects/{subject}/samples",
    response={201: BiobankSampleOut},
    summary="Record the collection of a sample the protocol expects (site staff, biobank)",
)
def sample_collect_write(
    request: HttpRequest, identifier: str, subject: str, body: BiobankCollectIn
) -> Status:
    actor = request_user(request)
    study = study_for_request(request, identifier)
    found = selectors.subject_for_samples(actor, study=study, identifier=subject)
    sample = sample_collect(actor=actor, subject=found, **body.dict())
    return Status(201, sample_record(sample))


@router.get(
    "/{identifier}/samples/missing",
    response=BiobankMissingListOut,
    summary="Samples expected at visits that took place and not recorded, oldest first",
)
def samples_missing(request: HttpRequest, identifier: str, limit: int = 500) -> Any:
    study = study_for_request(request, identifier)
    total, rows = expected_samples.missing_samples(
        request_user(request), study=study, limit=max(1, min(limit, 5000))
    )
    return {
        "total": total,
        "samples": [
            {
                "subject": row.subject,
                "site": row.site,
                "event": row.event,
                "occurrence": row.number,
                "code": row.code,
                "visit_on": row.done_on,
            }
            for row in rows
        ],
    }


@router.get(
    "/{identifier}/samples/{sample}",
    response=BiobankSampleOut,
    summary="A sample: its collection, processing steps, SPREC code and deviations",
)
def sample_read(request: HttpRequest, identifier: str, sample: str) -> Any:
    study = study_for_request(request, identifier)
    return sample_record(
        selectors.sample_for_actor(request_user(request), study=study, identifier=sample)
    )


@router.post(
    "/{identifier}/samples/{sample}/steps",
    response={201: BiobankSampleOut},
    summary="Record (or correct, with a reason) a processing step; the SPREC code follows",
)
def sample_process_write(
    request: HttpRequest, identifier: str, sample: str, body: BiobankProcessIn
) -> Status:
    actor = request_user(request)
    study = study_for_request(request, identifier)
    found = selectors.sample_for_actor(actor, study=study, identifier=sample)
    sample_process(actor=actor, sample=found, **body.dict())
    found.refresh_from_db()
    return Status(201, sample_record(found))
