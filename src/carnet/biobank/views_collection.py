"""Pages of sample collection: a subject's samples per visit (expected vs collected, with the
form to record one), a sample's page (processing steps, SPREC, deviations), the study's samples
and its missing samples. Thin: selectors decide what the person sees (unknown and forbidden are
the same 404), services what they may do; a refusal is shown on the page."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from carnet.accounts.models import User
from carnet.accounts.permissions import PermissionDenied, person_asking
from carnet.accounts.selectors import study_for_actor
from carnet.biobank import expected as expected_samples
from carnet.biobank import selectors
from carnet.biobank.collection import deviation_text, sample_collect, sample_process
from carnet.biobank.models import Held, Sample, StepKind
from carnet.biobank.sprec import COLLECTION_METHODS, FIXATIVES
from carnet.capture.annotations import Mark
from carnet.core.errors import CarnetError, ValidationError
from carnet.studies.models import Study
from carnet.subjects.models import Subject


def _user(request: HttpRequest) -> User:
    return person_asking(request.user)


def _study(request: HttpRequest, identifier: str) -> Study:
    try:
        return study_for_actor(_user(request), identifier)
    except PermissionDenied as error:
        raise Http404(str(error)) from error


def _subject(request: HttpRequest, study: Study, identifier: str) -> Subject:
    try:
        return selectors.subject_for_samples(_user(request), study=study, identifier=identifier)
    except PermissionDenied as error:
        raise Http404(str(error)) from error


def _sample(request: HttpRequest, study: Study, identifier: str) -> Sample:
    try:
        return selectors.sample_for_actor(_user(request), study=study, identifier=identifier)
    except PermissionDenied as error:
        raise Http404(str(error)) from error


def _local(text: str, subject: Subject, field: str) -> datetime:
    """Return a datetime typed at the subject's site (its centre's time zone) as aware."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError as error:
        raise ValidationError(
            _("%(field)s: give a date and time (YYYY-MM-DD HH:MM).") % {"field": field}
        ) from error
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(subject.site.centre.time_zone))
    return moment


def _optional_local(text: str, subject: Subject, field: str) -> datetime | None:
    return _local(text, subject, field) if text.strip() else None


def _decimal(text: str, field: str) -> Decimal | None:
    if not text.strip():
        return None
    try:
        return Decimal(text.strip().replace(",", "."))
    except InvalidOperation as error:
        raise ValidationError(_("%(field)s: give a number.") % {"field": field}) from error


def _integer(text: str, field: str) -> int | None:
    value = _decimal(text, field)
    return None if value is None else int(value)


def _back(url: str, problem: str) -> HttpResponseRedirect:
    return HttpResponseRedirect(f"{url}?{urlencode({'problem': problem})}")


def visit_marks(actor: User, subject: Subject) -> dict[tuple[str, int], Mark]:
    """Return "Samples 1/2" on each casebook column where the protocol expects samples."""
    url = reverse("biobank:subject_samples", args=[subject.study.identifier, subject.identifier])
    marks = {}
    for visit in expected_samples.visit_samples(subject):
        missing = any(row.state == expected_samples.SampleState.MISSING for row in visit.rows)
        label = _("Samples %(collected)s/%(expected)s") % {
            "collected": visit.collected,
            "expected": len(visit.rows),
        }
        if missing:
            label += " · " + _("missing")
        marks[(visit.event.name, visit.number)] = Mark(visit.collected, label, url)
    return marks


def _state_labels() -> dict[str, str]:
    return {
        "collected": _("collected"),
        "missing": _("missing"),
        "awaited": _("awaited"),
        "optional": _("optional, not taken"),
    }


@login_required
@require_GET
def subject_samples_page(request: HttpRequest, identifier: str, subject: str) -> HttpResponse:
    """Return a subject's samples per visit: what the protocol expects, what was collected."""
    study = _study(request, identifier)
    found = _subject(request, study, subject)
    may_write = selectors.sample_scope(
        _user(request), study=study, actions=selectors.SAMPLE_WRITERS
    ).allows(found.site_id)
    language = get_language() or "en"
    return render(
        request,
        "biobank/collection/subject.html",
        {
            "study": study,
            "subject": found,
            "visits": [
                {
                    "visit": visit,
                    "label": visit.event.label.text(language),
                    "rows": [
                        {
                            "row": row,
                            "label": row.expected.label.text(language) or row.expected.code,
                        }
                        for row in visit.rows
                    ],
                }
                for visit in expected_samples.visit_samples(found)
            ],
            "consent": selectors.consent_scope(found),
            "states": _state_labels(),
            "may_write": may_write,
            "held_choices": Held.choices,
            "methods": list(COLLECTION_METHODS),
            "problem": request.GET.get("problem", ""),
        },
    )


@login_required
@require_POST
def collect_action(request: HttpRequest, identifier: str, subject: str) -> HttpResponse:
    """Record the collection of an expected sample, then open its page."""
    study = _study(request, identifier)
    found = _subject(request, study, subject)
    back = reverse("biobank:subject_samples", args=[study.identifier, found.identifier])
    data = request.POST
    try:
        sample = sample_collect(
            actor=_user(request),
            subject=found,
            event=data.get("event", ""),
            occurrence=_integer(data.get("occurrence", "1"), "occurrence") or 1,
            code=data.get("code", ""),
            collected_at=_local(data.get("collected_at", ""), found, "collected_at"),
            collector=data.get("collector", "").strip(),
            volume=_decimal(data.get("volume", ""), "volume"),
            held=data.get("held", Held.ROOM),
            collection_method=data.get("collection_method", ""),
            warm_ischaemia_minutes=_integer(data.get("warm_ischaemia_minutes", ""), "warm"),
            haemolysis=data.get("haemolysis", ""),
            volume_sufficient={"yes": True, "no": False}.get(data.get("volume_sufficient", "")),
            comment=data.get("comment", "").strip(),
        )
    except (CarnetError, PermissionDenied) as error:
        return _back(back, str(error))
    return HttpResponseRedirect(
        reverse("biobank:sample", args=[study.identifier, sample.identifier])
    )


def _step_rows(sample: Sample) -> list[dict[str, Any]]:
    return [
        {"step": step, "label": StepKind(step.kind).label}
        for step in selectors.processing_steps(sample)
    ]


@login_required
@require_GET
def sample_page(request: HttpRequest, identifier: str, sample: str) -> HttpResponse:
    """Return a sample: its collection, processing steps, SPREC code and deviations."""
    study = _study(request, identifier)
    found = _sample(request, study, sample)
    collection = getattr(found, "collection", None)
    may_write = selectors.sample_scope(
        _user(request), study=study, actions=selectors.SAMPLE_WRITERS
    ).allows(found.site_id)
    tissue = found.sample_type.endswith(("_ffpe", "_frozen"))
    kinds = (
        [StepKind.FIXATION, StepKind.FREEZING]
        if tissue
        else [StepKind.CENTRIFUGATION, StepKind.SECOND_CENTRIFUGATION, StepKind.FREEZING]
    )
    return render(
        request,
        "biobank/collection/sample.html",
        {
            "study": study,
            "sample": found,
            "collection": collection,
            "deviations": [
                deviation_text(d) for d in (collection.deviations if collection else [])
            ],
            "steps": _step_rows(found),
            "kinds": [(kind.value, kind.label) for kind in kinds],
            "held_choices": Held.choices,
            "fixatives": list(FIXATIVES),
            "tissue": tissue,
            "may_write": may_write,
            "consent": selectors.consent_scope(found.subject),
            "problem": request.GET.get("problem", ""),
        },
    )


@login_required
@require_POST
def process_action(request: HttpRequest, identifier: str, sample: str) -> HttpResponse:
    """Record one processing step of a sample, then show the sample again."""
    study = _study(request, identifier)
    found = _sample(request, study, sample)
    back = reverse("biobank:sample", args=[study.identifier, found.identifier])
    data = request.POST
    subject = found.subject
    try:
        sample_process(
            actor=_user(request),
            sample=found,
            kind=data.get("kind", ""),
            started_at=_local(data.get("started_at", ""), subject, "started_at"),
            ended_at=_optional_local(data.get("ended_at", ""), subject, "ended_at"),
            temperature=_decimal(data.get("temperature", ""), "temperature"),
            force_g=_integer(data.get("force_g", ""), "force_g"),
            braking=data.get("braking", "yes") != "no",
            held=data.get("held", Held.ROOM),
            fixative=data.get("fixative", ""),
            reason=data.get("reason", ""),
        )
    except (CarnetError, PermissionDenied) as error:
        return _back(back, str(error))
    return HttpResponseRedirect(back)


@login_required
@require_GET
def samples_page(request: HttpRequest, identifier: str) -> HttpResponse:
    """Return the study's samples the person may see (the biobank's list)."""
    study = _study(request, identifier)
    try:
        samples = list(selectors.samples_visible(_user(request), study=study)[:500])
    except PermissionDenied as error:
        raise Http404(str(error)) from error
    return render(request, "biobank/collection/samples.html", {"study": study, "samples": samples})


@login_required
@require_GET
def missing_page(request: HttpRequest, identifier: str) -> HttpResponse:
    """Return the study's missing samples, the oldest visit first."""
    study = _study(request, identifier)
    try:
        total, rows = expected_samples.missing_samples(_user(request), study=study, limit=1000)
    except PermissionDenied as error:
        raise Http404(str(error)) from error
    return render(
        request,
        "biobank/collection/missing.html",
        {"study": study, "total": total, "rows": rows},
    )
