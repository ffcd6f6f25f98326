"""Loading, amending, publishing and moving a study through its modes, all audited."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.db import DatabaseError, connection, transaction

from carnet.audit.models import AuditEvent
from carnet.audit.services import SystemActor
from carnet.audit.verification import audit_verify
from carnet.core.errors import ValidationError
from carnet.studies.definition import study_file_read
from carnet.studies.definition.loading import StudyFile
from carnet.studies.impact import _COUNTERS, DataTouched, register_data_counter
from carnet.studies.models import Study, StudyVersion
from carnet.studies.selectors import study_get
from carnet.studies.services import study_load, study_mode_change, study_publish
from tests.conftest import postgres_only

pytestmark = pytest.mark.django_db

FIXTURE = Path(__file__).parent / "fixtures" / "mini.yaml"


def study_file(tmp_path: Path, *replacements: tuple[str, str]) -> StudyFile:
    text = FIXTURE.read_text()
    for old, new in replacements:
        assert old in text
        text = text.replace(old, new)
    path = tmp_path / f"mini-{len(list(tmp_path.iterdir()))}.yaml"
    path.write_text(text)
    return study_file_read(path)


AMENDMENT = ("range: {min: 20, max: 250}", "range: {min: 20, max: 300}")
NEW_ITEM = (
    "          - {name: sbp,",
    "          - {name: heart_rate, sas_name: HR, type: integer, label: {en: Heart rate, "
    "fr: Fréquence cardiaque}}\n          - {name: sbp,",
)


def load(actor: SystemActor, study_file: StudyFile):  # type: ignore[no-untyped-def]
    return study_load(actor=actor, study_file=study_file, source_name="mini.yaml")


def chain_actions() -> list[str]:
    return list(
        AuditEvent.objects.filter(chain="study:MINI")
        .order_by("seq")
        .values_list("action", flat=True)
    )


def test_a_first_load_creates_the_study_with_a_draft(
    system_actor: SystemActor, tmp_path: Path
) -> None:
    outcome = load(system_actor, study_file(tmp_path))
    assert outcome.outcome == "created"
    assert (outcome.version.number, outcome.version.status) == (1, "draft")
    assert outcome.study.mode == "design"
    assert outcome.study.current_version is None
    assert chain_actions() == ["study.created"]


def test_loading_the_same_file_again_changes_nothing(
    system_actor: SystemActor, tmp_path: Path
) -> None:
    load(system_actor, study_file(tmp_path))
    again = load(system_actor, study_file(tmp_path))
    assert again.outcome == "unchanged"
    assert StudyVersion.objects.count() == 1
    assert chain_actions() == ["study.created"]


def test_a_changed_draft_is_updated_in_place(system_actor: SystemActor, tmp_path: Path) -> None:
    load(system_actor, study_file(tmp_path))
    outcome = load(system_actor, study_file(tmp_path, AMENDMENT))
    assert outcome.outcome == "draft updated"
    assert StudyVersion.objects.count() == 1
    assert outcome.version.parsed().form("vitals").items()[0].range_max == 300
    assert chain_actions() == ["study.created", "study.draft_updated"]


def test_an_amendment_of_a_published_version_is_a_new_draft_with_a_migration_report(
    system_actor: SystemActor, tmp_path: Path
) -> None:
    load(system_actor, study_file(tmp_path))
    published = study_publish(actor=system_actor, study=study_get("MINI"))
    outcome = load(system_actor, study_file(tmp_path, AMENDMENT, NEW_ITEM))
    assert outcome.outcome == "amendment"
    assert outcome.version.number == 2
    report = outcome.report
    assert report is not None
    assert (report["from_version"], report["to_version"]) == (1, 2)
    assert report["summary"]["item"] == {"added": 1, "removed": 0, "changed": 1}
    weight = next(c for c in report["changes"] if c["key"] == "I.WEIGHT")
    assert weight["attributes"] == [{"attribute": "range_max", "old": 250, "new": 300}]
    assert weight["data"] == []  # nothing captured yet
    published.refresh_from_db()
    assert published.parsed().form("vitals").items()[0].range_max == 250  # untouched
    assert study_get("MINI").current_version == published
    assert chain_actions() == [
        "study.created",
        "study.version_published",
        "study.amendment_drafted",
    ]


def test_the_migration_report_counts_the_data_each_change_touches(
    system_actor: SystemActor, tmp_path: Path
) -> None:
    def counter(study: str, change):  # type: ignore[no-untyped-def]
        # What the capture app will answer: values held for a changed item of this study.
        return (
            [DataTouched("item values", 12)] if change.key == "I.WEIGHT" and study == "MINI" else []
        )

    register_data_counter(counter)
    try:
        load(system_actor, study_file(tmp_path))
        study_publish(actor=system_actor, study=study_get("MINI"))
        report = load(system_actor, study_file(tmp_path, AMENDMENT, NEW_ITEM)).report
    finally:
        _COUNTERS.remove(counter)
    assert report is not None
    weight = next(c for c in report["changes"] if c["key"] == "I.WEIGHT")
    assert weight["data"] == [{"what": "item values", "count": 12}]
    assert report["data_rows_touched"] == 12


def test_publishing_without_a_draft_is_refused(system_actor: SystemActor, tmp_path: Path) -> None:
    load(system_actor, study_file(tmp_path))
    study_publish(actor=system_actor, study=study_get("MINI"))
    with pytest.raises(ValidationError, match="no draft version to publish"):
        study_publish(actor=system_actor, study=study_get("MINI"))


@postgres_only
def test_the_database_refuses_to_change_a_published_version(
    system_actor: SystemActor, tmp_path: Path
) -> None:
    load(system_actor, study_file(tmp_path))
    version = study_publish(actor=system_actor, study=study_get("MINI"))
    with (
        pytest.raises(DatabaseError, match="immutable"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(
            "UPDATE studies_studyversion SET source_text = 'x' WHERE id = %s", [version.pk]
        )


def test_modes_follow_the_lifecycle_and_are_audited(
    system_actor: SystemActor, tmp_path: Path
) -> None:
    load(system_actor, study_file(tmp_path))
    study = study_get("MINI")
    with pytest.raises(ValidationError, match="no published version"):
        study_mode_change(actor=system_actor, study=study, mode="test")
    study_publish(actor=system_actor, study=study)
    for mode in ("test", "production", "frozen", "locked"):
        study = study_mode_change(actor=system_actor, study=study, mode=mode, reason="next step")
    assert study.mode == "locked"
    with pytest.raises(ValidationError, match="cannot go from locked to production"):
        study_mode_change(actor=system_actor, study=study, mode="production")
    with pytest.raises(ValidationError, match="needs a reason"):
        study_mode_change(actor=system_actor, study=study, mode="frozen")
    study_mode_change(actor=system_actor, study=study, mode="frozen", reason="query on AE 12")
    event = AuditEvent.objects.filter(action="study.mode_changed").order_by("-seq").first()
    assert event is not None
    assert (event.old, event.new, event.reason) == (
        {"mode": "locked"},
        {"mode": "frozen"},
        "query on AE 12",
    )
    assert audit_verify(chain="study:MINI").intact


def test_a_locked_study_cannot_be_amended(system_actor: SystemActor, tmp_path: Path) -> None:
    load(system_actor, study_file(tmp_path))
    study = study_get("MINI")
    study_publish(actor=system_actor, study=study)
    for mode in ("production", "frozen", "locked"):
        study = study_mode_change(actor=system_actor, study=study, mode=mode, reason="next step")
    with pytest.raises(ValidationError, match="is locked"):
        load(system_actor, study_file(tmp_path, AMENDMENT))
    assert StudyVersion.objects.count() == 1
    assert Study.objects.get().versions.count() == 1
