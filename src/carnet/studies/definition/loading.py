"""From a study file to a `StudyDefinition`, or to the located reasons it cannot be one."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path as FilePath
from typing import Any

from carnet.core.hashing import sha256_hex
from carnet.studies.definition.findings import Finding, StudyFileError
from carnet.studies.definition.model import (
    DEFAULT_MISSING_CODES,
    StudyDefinition,
)
from carnet.studies.definition.validation import validate_source
from carnet.studies.definition.yaml_source import MAX_TEXT_BYTES, source_parse

# A study file is a handful of forms, not a data set: refuse anything absurd before parsing.
MAX_FILE_BYTES = MAX_TEXT_BYTES


@dataclass(frozen=True)
class StudyFile:
    """A validated study file: its definition, its text and its SHA-256, and any warnings."""

    definition: StudyDefinition
    text: str
    sha256: str
    warnings: list[Finding]


# The study file says things the short way (a label as one string, `range: {min, max}`,
# `repeat: {from: …}`, defaults left out); the stored JSON of a version says them in full. A file
# is first written out in the stored form, then built by the one builder, `from_json`: a version
# read back from the database is the definition that was loaded, by construction.


def _label(value: Any) -> dict[str, str]:
    if value is None:
        return {"en": "", "fr": ""}
    if isinstance(value, str):
        return {"en": value, "fr": value}
    return {"en": value.get("en", ""), "fr": value.get("fr", "")}


def _item(data: dict[str, Any]) -> dict[str, Any]:
    bounds = data.get("range", {})
    file_options = data.get("file", {})
    return {
        "oid": data["oid"],
        "name": data["name"],
        "type": data["type"],
        "label": _label(data["label"]),
        "sas_name": data.get("sas_name", "").upper(),
        "guideline": _label(data.get("guideline")),
        "units": data.get("units", ""),
        "required": data.get("required", False),
        "range_min": bounds.get("min"),
        "range_max": bounds.get("max"),
        "regex": data.get("regex", ""),
        "max_length": data.get("max_length"),
        "decimals": data.get("decimals"),
        "code_list": data.get("code_list", ""),
        "result_type": data.get("result_type", ""),
        "calculation": data.get("calculation", ""),
        "show_if": data.get("show_if", ""),
        "flags": list(data.get("flags", ())),
        "file_max_megabytes": file_options.get("max_megabytes"),
        "file_types": list(file_options.get("types", ())),
    }


def _schedule(data: dict[str, Any] | None) -> dict[str, Any] | None:
    if data is None:
        return None
    repeat = data.get("repeat")
    window = data.get("window", {})
    return {
        "anchor": data["anchor"],
        "offset_days": data.get("offset_days", 0),
        "window": {"before": window.get("before", 0), "after": window.get("after", 0)},
        "repeat": {
            "every_days": repeat["every_days"],
            "start": repeat["from"],
            "max_occurrences": repeat.get("max_occurrences"),
        }
        if repeat
        else None,
    }


def _sample(data: dict[str, Any]) -> dict[str, Any]:
    processing = data.get("processing", {})
    return {
        "code": data["code"],
        "type": data["type"],
        "label": _label(data.get("label")),
        "container": data.get("container", ""),
        "volume": data.get("volume"),
        "unit": data.get("unit", ""),
        "aliquots": data.get("aliquots", 1),
        "optional": data.get("optional", False),
        "processing": {
            "centrifuge_within_minutes": processing.get("centrifuge_within_minutes"),
            "centrifuge_temperature": processing.get("centrifuge_temperature"),
            "centrifuge_g": processing.get("centrifuge_g"),
            "centrifuge_minutes": processing.get("centrifuge_minutes"),
            "second_centrifugation": processing.get("second_centrifugation", False),
            "freeze_within_minutes": processing.get("freeze_within_minutes"),
            "fixative": processing.get("fixative", ""),
            "fix_within_minutes": processing.get("fix_within_minutes"),
            "fixation_hours_min": processing.get("fixation_hours_min"),
            "fixation_hours_max": processing.get("fixation_hours_max"),
        },
        "storage": data.get("storage"),
        "destination": data.get("destination", ""),
    }


def _missing_codes(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"code": m["code"], "label": _label(m["label"])} for m in entries]


def _form(data: dict[str, Any]) -> dict[str, Any]:
    return {
        "oid": data["oid"],
        "name": data["name"],
        "label": _label(data["label"]),
        "guideline": _label(data.get("guideline")),
        "repeating": data.get("repeating", False),
        "not_done_allowed": data.get("not_done_allowed", True),
        "groups": [
            {
                "oid": g["oid"],
                "name": g["name"],
                "label": _label(g.get("label")),
                "items": [_item(i) for i in g["items"]],
                "repeating": g.get("repeating", False),
                "max_rows": g.get("max_rows"),
            }
            for g in data["groups"]
        ],
        "checks": [
            {
                "name": c["name"],
                "expression": c["expression"],
                "severity": c["severity"],
                "message": _label(c["message"]),
                "items": list(c.get("items", ())),
                "deviation": c.get("deviation", False),
                "deviation_class": c.get("deviation_class", ""),
                "deviation_category": c.get("deviation_category", ""),
            }
            for c in data.get("checks", [])
        ],
    }


def _stored_form(data: dict[str, Any]) -> dict[str, Any]:
    """Return a validated study file's data as a version stores it (`StudyDefinition.to_json`)."""
    study = data["study"]
    missing_codes = _missing_codes(study.get("missing_codes", [])) or [
        {"code": code, "label": {"en": en, "fr": fr}} for code, en, fr in DEFAULT_MISSING_CODES
    ]
    registry = study.get("registry", {})
    return {
        "identifier": study["identifier"],
        "oid": study.get("oid") or f"S.{study['identifier']}",
        "title": _label(study["title"]),
        "phase": study["phase"],
        "sponsor": study["sponsor"],
        "acronym": study.get("acronym", ""),
        "description": _label(study.get("description")),
        "registry": {
            "eu_ct": registry.get("eu_ct", ""),
            "id_rcb": registry.get("id_rcb", ""),
            "nct": registry.get("nct", ""),
        },
        "design": study.get("design", {}),
        "subject_identifier": study.get("subject_identifier", "{site}-{seq:03}"),
        "missing_codes": missing_codes,
        "not_done_reasons": _missing_codes(study.get("not_done_reasons", [])),
        "two_factor_roles": list(study.get("two_factor_roles", ())),
        "signature_meanings": list(study.get("signature_meanings", ())),
        "arms": [
            {
                "oid": a["oid"],
                "name": a["name"],
                "label": _label(a["label"]),
                "description": _label(a.get("description")),
            }
            for a in data.get("arms", [])
        ],
        "code_lists": [
            {
                "oid": c["oid"],
                "name": c["name"],
                "type": c["type"],
                "items": [{"code": i["code"], "label": _label(i["label"])} for i in c["items"]],
            }
            for c in data.get("code_lists", [])
        ],
        "events": [
            {
                "oid": e["oid"],
                "name": e["name"],
                "label": _label(e["label"]),
                "forms": list(e["forms"]),
                "schedule": _schedule(e.get("schedule")),
                "unscheduled": e.get("unscheduled", False),
                "samples": [_sample(s) for s in e.get("samples", ())],
            }
            for e in data["events"]
        ],
        "forms": [_form(f) for f in data["forms"]],
        "eligibility": [
            {
                "name": c["name"],
                "kind": c["kind"],
                "label": _label(c["label"]),
                "expression": c["expression"],
            }
            for c in data.get("eligibility", [])
        ],
        "registration": _registration(data),
        "deviation_categories": [
            {"code": m["name"], "label": _label(m["label"])}
            for m in study.get("deviation_categories", [])
        ],
    }


def _registration(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Return where each registration answer goes in the casebook (file order)."""
    section = data.get("registration", {})
    form_of = {
        item["name"]: form["name"]
        for form in data["forms"]
        for group in form["groups"]
        for item in group["items"]
    }
    targets = []
    for question, target in section.get("questions", {}).items():
        event, item = target["item"].split(".")
        codes = [[str(answer), code] for answer, code in target.get("codes", {}).items()]
        targets.append(
            {
                "question": question,
                "event": event,
                "form": form_of[item],
                "item": item,
                "codes": codes,
            }
        )
    for reference in section.get("eligibility", []):
        event, item = reference.split(".")
        targets.append(
            {
                "question": reference,
                "event": event,
                "form": form_of[item],
                "item": item,
                "codes": [],
            }
        )
    return targets


def study_text_validate(text: str, *, name: str) -> tuple[StudyDefinition | None, list[Finding]]:
    """Return the definition of a study text (None when it has errors) and every finding."""
    source, findings = source_parse(text, name=name)
    if source is None:
        return None, findings
    findings = validate_source(source)
    if any(finding.severity == "error" for finding in findings):
        return None, findings
    return StudyDefinition.from_json(_stored_form(source.data)), findings


def study_file_read(path: FilePath) -> StudyFile:
    """Return a validated study file, or raise StudyFileError listing every located error."""
    name = str(path)
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise StudyFileError(
            [Finding("error", name, 1, 1, "(file)", f"cannot be read: {error.strerror}.")]
        ) from error
    if len(raw) > MAX_FILE_BYTES:
        raise StudyFileError(
            [
                Finding(
                    "error",
                    name,
                    1,
                    1,
                    "(file)",
                    f"is {len(raw)} bytes; a study file is at most {MAX_FILE_BYTES}.",
                )
            ]
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise StudyFileError(
            [Finding("error", name, line, 1, "(file)", "is not UTF-8 text; save it as UTF-8.")]
        ) from error
    definition, findings = study_text_validate(text, name=name)
    if definition is None:
        raise StudyFileError(findings)
    return StudyFile(definition=definition, text=text, sha256=sha256_hex(raw), warnings=findings)
