"""A transactional ODM file into a study: its final values go in through the bulk path as the
importer's, at Carnet's time; its AuditRecords (the source system's user, time, reason, per item)
are kept as the import's provenance in the study's trail, distinct from Carnet's own events, and
the chain stays whole."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.utils import timezone
from lxml import etree

from carnet.audit.models import AuditEvent
from carnet.audit.verification import verify_chain
from carnet.capture.bulk.engine import ImportRefused
from carnet.capture.services import form_save
from carnet.core.hashing import sha256_hex
from carnet.interop.odm.data_import import odm_file_import
from carnet.interop.odm.export import odm_write
from carnet.interop.services import cutoff_create
from carnet.studies.models import Study
from tests.interop.conftest import Exporting
from tests.interop.test_odm_export import NS
from tests.interop.test_odm_import import clinical, new_study_like

pytestmark = pytest.mark.django_db


def transactional(actor: object, study: Study) -> bytes:
    cutoff = cutoff_create(actor=actor, study=study, name="HISTORY", reason="Move")
    target = io.BytesIO()
    odm_write(actor=actor, study=study, cutoff=cutoff, target=target, mode="transactional")
    return target.getvalue()


def corrected(e: Exporting) -> bytes:
    """Return MINI's transactional file after a correction made with a reason."""
    form_save(
        actor=e.entry,
        subject=e.subject,
        event="baseline",
        form="vitals",
        base_version=1,
        values={"weight": "71"},
        reason="Scale recalibrated",
    )
    return transactional(e.statistician, e.world.study)


def test_the_final_values_go_in_and_the_source_history_is_kept_beside_them(
    exporting: Exporting, tmp_path: Path
) -> None:
    content = corrected(exporting)
    root = etree.fromstring(content)
    records = root.findall(".//odm:ItemData/odm:AuditRecord", NS)
    assert len(records) > 1
    study, entry = new_study_like(exporting, tmp_path)
    began = timezone.now()

    made = odm_file_import(
        actor=entry, study=study, data=content, reason="Moved from MINI", name="mini.xml"
    )

    assert made.source_records == len(root.findall(".//odm:AuditRecord", NS))
    assert made.import_id
    chain = study.audit_chain
    changed = AuditEvent.objects.filter(chain=chain, action="item.changed")
    weights = [e.new["text"] for e in changed if e.new.get("item") == "weight"]
    assert weights == ["71"]  # the final value only, one Carnet change
    assert {e.reason for e in changed} == {"Moved from MINI"}
    summary = AuditEvent.objects.get(chain=chain, action="odm.imported")
    assert summary.new["sha256"] == sha256_hex(content)
    assert summary.new["source_audit_records"] == made.source_records
    assert summary.target_id == made.import_id
    history = list(
        AuditEvent.objects.filter(chain=chain, action="odm.source_audit_record").order_by("seq")
    )
    assert len(history) == made.source_records
    weight_history = [h.new for h in history if h.new["item"] == "weight"]
    assert [h["text"] for h in weight_history] == ["70.5", "71"]
    assert weight_history[-1]["source_reason"] == "Scale recalibrated"
    assert weight_history[0]["source_user"].startswith("USR.")
    assert weight_history[0]["source_location"].startswith("LOC.")
    source_changes = AuditEvent.objects.filter(
        chain=exporting.world.study.audit_chain, action="item.changed", new__item="weight"
    ).order_by("seq")
    assert [h["source_time"] for h in weight_history] == [  # the source's own time
        change.occurred_at.strftime("%Y-%m-%dT%H:%M:%SZ") for change in source_changes
    ]
    # Carnet's chain keeps Carnet's time and order: the provenance comes after the values, now.
    assert all(h.occurred_at >= began for h in history)
    assert min(h.seq for h in history) > max(e.seq for e in changed)
    assert {h.actor_id for h in history} == {entry.pk}
    assert verify_chain(chain).problem is None


def test_a_dry_run_keeps_no_history_and_an_import_with_problems_none(
    exporting: Exporting, tmp_path: Path
) -> None:
    content = corrected(exporting)
    study, entry = new_study_like(exporting, tmp_path)
    before = AuditEvent.objects.filter(chain=study.audit_chain).count()
    dry = odm_file_import(actor=entry, study=study, data=content, reason="Try", dry_run=True)
    assert dry.outcome.dry_run
    assert dry.source_records > 0
    assert not dry.import_id
    broken = content.replace(b'SubjectKey="01-001"', b'SubjectKey="09-999"')
    with pytest.raises(ImportRefused, match="no subject '09-999'"):
        odm_file_import(actor=entry, study=study, data=broken, reason="Moved")
    assert AuditEvent.objects.filter(chain=study.audit_chain).count() == before


def test_the_round_trip_of_a_transactional_file_gives_the_same_clinical_data(
    exporting: Exporting, tmp_path: Path
) -> None:
    from carnet.accounts.roles import Role
    from tests.accounts.personas import person

    content = corrected(exporting)
    study, entry = new_study_like(exporting, tmp_path)
    odm_file_import(actor=entry, study=study, data=content, reason="Moved from MINI")
    statistician = person("stan", study=study, role=Role.STATISTICIAN)
    source = exporting.world.study
    snapshot_before = io.BytesIO()
    snapshot_after = io.BytesIO()
    odm_write(
        actor=exporting.statistician,
        study=source,
        cutoff=cutoff_create(actor=exporting.statistician, study=source, name="A", reason="x"),
        target=snapshot_before,
    )
    odm_write(
        actor=statistician,
        study=study,
        cutoff=cutoff_create(actor=statistician, study=study, name="B", reason="x"),
        target=snapshot_after,
    )
    assert clinical(snapshot_after.getvalue()) == clinical(snapshot_before.getvalue())


def test_a_blinded_reader_sees_no_arm_revealing_value_in_the_source_history(
    exporting: Exporting, tmp_path: Path
) -> None:
    from carnet.accounts.roles import Role
    from carnet.oversight.trail import TrailFilters, trail_rows
    from tests.accounts.personas import person

    e = exporting
    cutoff = cutoff_create(actor=e.unblinded, study=e.world.study, name="U", reason="Move")
    target = io.BytesIO()
    odm_write(
        actor=e.unblinded,
        study=e.world.study,
        cutoff=cutoff,
        target=target,
        mode="transactional",
        unblinded=True,
    )
    study, entry = new_study_like(e, tmp_path)
    odm_file_import(actor=entry, study=study, data=target.getvalue(), reason="Moved")
    blinded = person("ines", study=study, role=Role.INSPECTOR)
    rows = [
        row
        for row in trail_rows(blinded, study=study, filters=TrailFilters.read({}))
        if row.action == "odm.source_audit_record"
    ]
    kit = [row for row in rows if "kit_number" in row.what]
    assert kit  # the kit number's source history is there, its value masked
    assert not any("471147" in row.new for row in rows)
    stored = AuditEvent.objects.filter(chain=study.audit_chain, new__item="kit_number")
    assert "471147" in {event.new["text"] for event in stored}  # kept, for unblinded readers
