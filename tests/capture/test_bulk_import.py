"""The bulk path as a data manager meets it: all or nothing, every problem located, a second run
changing nothing, and the same values, statuses, checks and audit events as the save pipeline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from carnet.audit.models import AuditEvent
from carnet.audit.verification import audit_verify
from carnet.capture.bulk import FormRecord, ImportRefused, forms_import
from carnet.capture.models import CheckResult, FormInstance, ItemValue
from carnet.capture.services import Missing, form_save
from carnet.studies.definition import study_file_read
from carnet.studies.services import study_load, study_publish
from carnet.subjects.models import Subject
from tests.accounts.personas import ADMIN, FIXTURE
from tests.capture.conftest import Capture, include

pytestmark = pytest.mark.django_db

REASON = "Migration from the paper CRF"


def record(subject: Subject, form: str = "vitals", source: str = "", **kwargs: Any) -> FormRecord:
    return FormRecord(subject=subject, event="baseline", form=form, source=source, **kwargs)


def test_an_import_writes_values_checks_statuses_and_one_audit_event_per_value(
    capture: Capture,
) -> None:
    outcome = forms_import(
        actor=capture.entry,
        study=capture.world.study,
        records=[
            record(capture.subject, values={"weight": "72,5", "height": 175, "sbp": 80, "dbp": 90}),
            record(
                capture.subject,
                form="lesions",
                rows={"target": {1: {"lesion_site": "liver", "diameter": 23}}},
                complete=True,
            ),
        ],
        reason=REASON,
    )
    assert (outcome.instances_changed, outcome.values_changed, outcome.soft_checks) == (2, 8, 1)
    vitals = FormInstance.objects.get(form="vitals")
    assert (vitals.status, vitals.version) == ("in_progress", 1)
    assert ItemValue.objects.get(item="bmi").text == "23.673469"
    assert FormInstance.objects.get(form="lesions").status == "complete"
    assert CheckResult.objects.get().check_name == "bp_order"
    changed = AuditEvent.objects.filter(action="item.changed", chain="study:MINI")
    assert changed.count() == 8
    assert {e.reason for e in changed} == {REASON}
    assert audit_verify(chain="study:MINI").intact


def test_a_second_run_of_the_same_import_changes_nothing(capture: Capture) -> None:
    records = [record(capture.subject, values={"weight": 70, "sbp": 80, "dbp": 90})]
    forms_import(actor=capture.entry, study=capture.world.study, records=records, reason=REASON)
    events = AuditEvent.objects.count()
    again = forms_import(
        actor=capture.entry, study=capture.world.study, records=records, reason=REASON
    )
    assert (again.instances_changed, again.values_changed) == (0, 0)
    assert AuditEvent.objects.count() == events
    assert FormInstance.objects.get().version == 1
    assert CheckResult.objects.filter(open=True).count() == 1


def test_one_bad_row_writes_nothing_and_is_named_with_every_other_problem(
    capture: Capture,
) -> None:
    second = include(capture.world, capture.entry)
    records = [
        record(capture.subject, values={"weight": 70}, source="vitals.csv:2"),
        record(second, values={"weight": "heavy", "smoker": 7}, source="vitals.csv:3"),
        record(second, form="lesions", values={"weight": 80}, source="lesions.csv:2"),
    ]
    with pytest.raises(ImportRefused) as refused:
        forms_import(actor=capture.entry, study=capture.world.study, records=records, reason=REASON)
    assert [str(p) for p in refused.value.problems] == [
        "vitals.csv:3, weight: 'heavy' is not a number.",
        "vitals.csv:3, smoker: 7 is not one of the codes [1, 0].",
        "lesions.csv:2, weight: 'lesions' has no item 'weight'.",
    ]
    assert not FormInstance.objects.exists()
    assert not AuditEvent.objects.filter(action="item.changed").exists()


def test_a_dry_run_reports_every_problem_and_writes_nothing(capture: Capture) -> None:
    records = [
        record(capture.subject, values={"weight": 240, "height": 150}, source="vitals.csv:2"),
        record(capture.subject, form="lesions", values={}, complete=True, source="x.csv:2"),
    ]
    events = AuditEvent.objects.count()
    outcome = forms_import(
        actor=capture.entry,
        study=capture.world.study,
        records=records,
        reason=REASON,
        dry_run=True,
    )
    assert [(p.source, p.place) for p in outcome.problems] == [
        ("vitals.csv:2", "weight"),
        ("vitals.csv:2", "height"),
    ]
    assert not FormInstance.objects.exists()
    assert AuditEvent.objects.count() == events


def test_an_import_needs_a_reason_and_the_right_to_enter_the_sites_data(capture: Capture) -> None:
    from carnet.core.errors import ValidationError

    records = [record(capture.subject, values={"weight": 70}, source="v.csv:2")]
    with pytest.raises(ValidationError):
        forms_import(actor=capture.entry, study=capture.world.study, records=records, reason=" ")
    with pytest.raises(ImportRefused) as refused:
        forms_import(
            actor=capture.other_site, study=capture.world.study, records=records, reason=REASON
        )
    assert refused.value.problems[0].source == "v.csv:2"
    assert not FormInstance.objects.exists()


# One truth: the same saves through both paths give the same data.
def _story() -> list[dict[str, Any]]:
    return [
        {"form": "vitals", "values": {"weight": 70, "height": 170, "sbp": 80, "dbp": 90}},
        {"form": "vitals", "values": {"smoker": 1, "packs": 12, "sbp": 130}},
        {"form": "vitals", "values": {"smoker": 0, "height": Missing("UNK")}, "complete": True},
        {
            "form": "lesions",
            "rows": {"target": {1: {"lesion_site": "liver", "diameter": 23}, 2: {"diameter": 31}}},
        },
        {"form": "lesions", "rows": {"target": {2: None, 3: {"diameter": 15}}}},
        {"form": "vitals", "values": {"weight": 71}, "reason": "Typo"},
    ]


def _content(subject: Subject, events_after: int) -> dict[str, Any]:
    """Return what a subject's forms hold and the audit events after a point, without ids."""
    values = sorted(
        (
            v.form_instance.form,
            v.item,
            v.row,
            v.text,
            v.missing_code,
            v.removed,
            v.hidden,
            v.changed_in,
        )
        for v in ItemValue.objects.filter(form_instance__subject=subject).select_related(
            "form_instance"
        )
    )
    instances = sorted(
        (i.form, i.status, i.version) for i in FormInstance.objects.filter(subject=subject)
    )
    checks = sorted(
        (c.form_instance.form, c.check_name, c.row, c.open, c.message_en, tuple(c.items))
        for c in CheckResult.objects.filter(form_instance__subject=subject).select_related(
            "form_instance"
        )
    )
    events = [
        (
            e.action,
            e.target_type,
            _anonymous(e.old, subject),
            _anonymous(e.new, subject),
            e.reason,
            e.actor_label,
        )
        for e in AuditEvent.objects.filter(chain="study:MINI", seq__gt=events_after).order_by("seq")
    ]
    return {"values": values, "instances": instances, "checks": checks, "events": events}


IDS = {"form_instance", "query", "check_result", "id"}


def _anonymous(value: Any, subject: Subject) -> Any:
    if isinstance(value, dict):
        # Database ids differ between the two subjects' forms: compare what they name.
        return {k: _anonymous(v, subject) for k, v in value.items() if k not in IDS}
    return "SUBJECT" if value == subject.identifier else value


def _head() -> int:
    return (
        AuditEvent.objects.filter(chain="study:MINI")
        .order_by("-seq")
        .values_list("seq", flat=True)
        .first()
        or 0
    )


def test_the_bulk_path_and_the_save_pipeline_write_the_same_data(capture: Capture) -> None:
    one, two = capture.subject, include(capture.world, capture.entry)
    start = _head()
    for step in _story():
        instance = FormInstance.objects.filter(subject=one, form=step["form"]).first()
        form_save(
            actor=capture.entry,
            subject=one,
            event="baseline",
            form=step["form"],
            base_version=instance.version if instance else None,
            values=step.get("values"),
            rows=step.get("rows"),
            complete=step.get("complete", False),
            reason=step.get("reason", REASON),
        )
    interactive = _content(one, start)
    middle = _head()
    forms_import(
        actor=capture.entry,
        study=capture.world.study,
        records=[
            record(
                two,
                form=step["form"],
                values=step.get("values", {}),
                rows=step.get("rows", {}),
                complete=step.get("complete", False),
                reason=step.get("reason", ""),
            )
            for step in _story()
        ],
        reason=REASON,
    )
    bulk = _content(two, middle)
    assert interactive["events"]
    assert interactive["checks"]
    # The listeners' own events (automatic queries opened and closed) are compared too.
    assert {"query.opened", "query.closed"} <= {event[0] for event in interactive["events"]}
    for a, b in zip(bulk["events"], interactive["events"], strict=False):
        assert a == b
    assert bulk == interactive


@pytest.mark.django_db(transaction=True)
def test_an_import_and_an_interactive_save_of_one_form_one_waits_nothing_is_lost(
    capture: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    from django.db import connection

    from carnet.capture.bulk import engine
    from carnet.capture.services import FormConflict

    form_save(
        actor=capture.entry,
        subject=capture.subject,
        event="baseline",
        form="vitals",
        base_version=None,
        values={"weight": 70},
    )
    inside, release = threading.Event(), threading.Event()
    append = engine.audit_record_many

    def held(**kwargs: Any) -> Any:
        inside.set()  # the import has written its values and holds its transaction
        assert release.wait(10)
        return append(**kwargs)

    monkeypatch.setattr(engine, "audit_record_many", held)
    results: dict[str, Any] = {}

    def run_import() -> None:
        try:
            forms_import(
                actor=capture.entry,
                study=capture.world.study,
                records=[record(capture.subject, values={"weight": 80})],
                reason=REASON,
            )
            results["import"] = "written"
        finally:
            connection.close()

    def run_save() -> None:
        try:
            form_save(
                actor=capture.entry,
                subject=capture.subject,
                event="baseline",
                form="vitals",
                base_version=1,
                values={"weight": 71},
            )
            results["save"] = "written"
        except FormConflict as conflict:
            results["save"] = conflict
        finally:
            connection.close()

    importer = threading.Thread(target=run_import)
    importer.start()
    assert inside.wait(10)
    saver = threading.Thread(target=run_save)
    saver.start()
    saver.join(1)
    assert saver.is_alive()  # the save waits for the import's transaction
    release.set()
    importer.join()
    saver.join()
    assert results["import"] == "written"
    assert isinstance(results["save"], FormConflict)  # told what the import changed
    assert [c["text"] for c in results["save"].changes] == ["80"]
    weights = [
        e.new["text"]
        for e in AuditEvent.objects.filter(action="item.changed", new__item="weight").order_by(
            "seq"
        )
    ]
    assert weights == ["70", "80"]
    assert ItemValue.objects.get(item="weight").text == "80"
    assert audit_verify(chain="study:MINI").intact


def test_data_dated_after_a_withdrawal_from_follow_up_are_refused_with_their_record(
    capture: Capture,
) -> None:
    from datetime import date

    from carnet.subjects.services import consent_withdraw

    free = include(capture.world, capture.entry)
    consent_withdraw(
        actor=capture.entry,
        subject=capture.subject,
        kind="follow_up",
        withdrawn_on=date(2026, 2, 1),
    )
    late = [
        record(free, values={"weight": 70, "vs_date": date(2026, 3, 1)}, source="free"),
        record(capture.subject, values={"weight": 71, "vs_date": date(2026, 3, 1)}, source="late"),
    ]
    with pytest.raises(ImportRefused) as refused:
        forms_import(actor=capture.entry, study=capture.world.study, records=late, reason=REASON)
    assert [p.source for p in refused.value.problems] == ["late"]
    assert "withdrew from follow-up on 2026-02-01" in str(refused.value.problems[0])
    assert not FormInstance.objects.exists()
    # Data dated on or before the withdrawal still come in.
    on_time = record(capture.subject, values={"weight": 71, "vs_date": date(2026, 2, 1)})
    forms_import(actor=capture.entry, study=capture.world.study, records=[on_time], reason=REASON)
    assert ItemValue.objects.filter(item="weight", text="71").exists()


# A rule of one form reading another form's value: the import reads that form when the rule
# first asks for it (from the database if saved before, from memory if the import wrote it).
CROSS_FORM_CHECK = """            calculation: "sum(diameter)"
    checks:
      - name: lighter_than_lesions
        expression: "is_missing(sum_diameters) or sum_diameters < baseline.weight"
        severity: soft
        items: [diameter]
        message: {en: Lesions outweigh the patient, fr: Les lésions dépassent le poids}
"""


def test_a_rule_reading_another_form_reads_its_saved_or_imported_values(
    capture: Capture, tmp_path: Path
) -> None:
    text = FIXTURE.read_text(encoding="utf-8")
    old = '            calculation: "sum(diameter)"\n'
    assert text.count(old) == 1
    amended = tmp_path / "mini.yaml"
    amended.write_text(text.replace(old, CROSS_FORM_CHECK), encoding="utf-8")
    study_load(actor=ADMIN, study_file=study_file_read(amended), source_name="mini.yaml")
    study_publish(actor=ADMIN, study=capture.world.study)
    capture.world.study.refresh_from_db()
    saved, imported = capture.subject, include(capture.world, capture.entry)
    saved.refresh_from_db()
    form_save(
        actor=capture.entry,
        subject=saved,
        event="baseline",
        form="vitals",
        base_version=None,
        values={"weight": 70},
        reason=REASON,
    )
    lesions = {"target": {1: {"diameter": 50}, 2: {"diameter": 30}}}
    forms_import(
        actor=capture.entry,
        study=capture.world.study,
        records=[
            record(saved, form="lesions", rows=lesions),
            record(imported, form="vitals", values={"weight": 90}),
            record(imported, form="lesions", rows=lesions),
        ],
        reason=REASON,
    )
    fired = set(
        CheckResult.objects.filter(check_name="lighter_than_lesions", open=True).values_list(
            "form_instance__subject_id", flat=True
        )
    )
    # 80 mm of lesions against the 70 kg saved before the import; not against the 90 kg imported.
    assert fired == {saved.pk}


def test_the_import_builds_values_in_the_models_field_order() -> None:
    """The engine builds a new value from positional arguments (`_value_new`): a field added to
    ItemValue, or moved, must move there too."""
    assert [field.attname for field in ItemValue._meta.concrete_fields] == [
        "id",
        "form_instance_id",
        "item",
        "item_oid",
        "group",
        "row",
        "text",
        "number",
        "day",
        "missing_code",
        "removed",
        "hidden",
        "changed_in",
        "study_version_id",
        "updated_at",
        "updated_by",
    ]
