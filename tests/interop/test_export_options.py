"""Export options: rows kept to events and a range of visit dates, codes written as labels, and
every export an audit event naming its cut-off, its options and its manifest's hash."""

from __future__ import annotations

import json
from datetime import date

import pytest

from carnet.audit.models import AuditEvent
from carnet.core.errors import ValidationError
from carnet.core.hashing import sha256_hex
from carnet.subjects.services import visit_record
from tests.interop.conftest import Exporting
from tests.interop.test_exports import cut, entries, export, rows

pytestmark = pytest.mark.django_db


def test_codes_are_written_as_their_labels_when_asked(exporting: Exporting) -> None:
    cutoff = cut(exporting)
    coded = rows(entries(export(exporting, cutoff))["vitals.csv"])
    labelled = entries(export(exporting, cutoff, labels=True))
    assert coded[0]["smoker"] == "1"
    assert rows(labelled["vitals.csv"])[0]["smoker"] == "Yes"
    assert json.loads(labelled["manifest.json"])["options"]["values"] == "labels"
    # The SAS program reads the label as text, without the code list's format.
    assert "smoker $char3." in labelled["MINI.sas"].decode()


def test_rows_are_kept_to_events_and_visit_dates(exporting: Exporting) -> None:
    e = exporting
    visit_record(
        actor=e.entry, subject=e.subject, event="baseline", occurrence=1, visit_on=date(2026, 1, 5)
    )
    cutoff = cut(e)
    inside = entries(export(e, cutoff, since=date(2026, 1, 1), until=date(2026, 1, 31)))
    assert len(rows(inside["vitals.csv"])) == 1
    outside = entries(export(e, cutoff, since=date(2026, 2, 1)))
    assert rows(outside["vitals.csv"]) == []
    assert len(rows(outside["subjects.csv"])) == 1  # subjects are not dated rows
    assert len(rows(entries(export(e, cutoff, events=["baseline"]))["vitals.csv"])) == 1
    assert rows(entries(export(e, cutoff, events=["cycle"]))["vitals.csv"]) == []
    with pytest.raises(ValidationError, match=r"^events: week9: no such event"):
        export(e, cutoff, events=["week9"])
    with pytest.raises(ValidationError, match=r"^since: 2026-02-01 is after until"):
        export(e, cutoff, since=date(2026, 2, 1), until=date(2026, 1, 1))


def test_every_export_is_an_audit_event_with_its_cutoff_options_and_manifest_hash(
    exporting: Exporting,
) -> None:
    cutoff = cut(exporting)
    files = entries(export(exporting, cutoff, "parquet", events=["baseline"], labels=True))
    event = AuditEvent.objects.filter(action="export.made").get()
    assert (event.actor_id, event.chain) == (exporting.statistician.pk, "study:MINI")
    assert (event.new["cutoff"], event.new["seq"]) == ("DSMB-1", cutoff.seq)
    assert (event.new["format"], event.new["events"], event.new["values"]) == (
        "parquet",
        ["baseline"],
        "labels",
    )
    assert event.new["manifest"] == sha256_hex(files["manifest.json"])
