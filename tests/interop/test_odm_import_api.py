"""ODM imports through the API and the import page: clinical data into a study (dry run, reason,
all or nothing, problems by line), and a file's metadata as a study file with what was not
carried over. Hostile or oversized files are refused there as on the command line."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from carnet.accounts.roles import Role
from carnet.audit.models import AuditEvent
from carnet.capture.models import ItemValue
from tests.accounts.personas import person
from tests.interop.conftest import Exporting
from tests.interop.test_odm_import import BILLION_LAUGHS, VALID, new_study_like
from tests.interop.test_odm_provenance import corrected
from tests.interop.test_pages_and_api import signed_in

pytestmark = pytest.mark.django_db


def upload(content: bytes, name: str = "partner.xml") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="application/xml")


def imports(study: str) -> str:
    return f"/api/studies/{study}/odm/imports"


def test_the_api_dry_runs_then_imports_a_transactional_file_keeping_its_history(
    exporting: Exporting, tmp_path: Path
) -> None:
    content = corrected(exporting)
    study, _entry = new_study_like(exporting, tmp_path)
    manager = person("dora", study=study, role=Role.DATA_MANAGER)
    client = signed_in(manager)
    dry = client.post(
        imports("MINI2"), {"file": upload(content), "reason": "From MINI", "dry_run": "true"}
    )
    assert dry.status_code == 200, dry.content
    assert dry.json()["dry_run"] is True
    assert dry.json()["import_id"] == ""
    assert not ItemValue.objects.filter(form_instance__subject__study=study).exists()
    made = client.post(imports("MINI2"), {"file": upload(content), "reason": "From MINI"})
    assert made.status_code == 200, made.content
    body = made.json()
    assert body["values_changed"] > 0
    assert body["source_audit_records"] > 0
    history = AuditEvent.objects.filter(
        chain=study.audit_chain, action="odm.source_audit_record", target_id=body["import_id"]
    )
    assert history.count() == body["source_audit_records"]


def test_the_api_refuses_without_a_reason_and_locates_problems_by_line(
    exporting: Exporting, tmp_path: Path
) -> None:
    content = corrected(exporting).replace(b'SubjectKey="01-001"', b'SubjectKey="09-999"')
    study, _entry = new_study_like(exporting, tmp_path)
    client = signed_in(person("dora", study=study, role=Role.DATA_MANAGER))
    before = AuditEvent.objects.filter(chain=study.audit_chain).count()
    no_reason = client.post(imports("MINI2"), {"file": upload(content), "reason": " "})
    assert no_reason.status_code == 400
    assert "reason" in no_reason.json()["detail"]
    refused = client.post(imports("MINI2"), {"file": upload(content), "reason": "From MINI"})
    assert refused.status_code == 400
    assert refused["Content-Type"] == "application/problem+json"
    (problem,) = refused.json()["problems"]
    assert problem["source"].startswith("partner.xml:")
    assert int(problem["source"].split(":")[1]) > 1
    assert "09-999" in problem["message"]
    dry = client.post(imports("MINI2"), {"file": upload(content), "reason": "x", "dry_run": "true"})
    assert dry.status_code == 200
    assert [p["place"] for p in dry.json()["problems"]] == ["SubjectKey"]
    assert AuditEvent.objects.filter(chain=study.audit_chain).count() == before


def test_the_api_refuses_entities_and_files_over_the_limit(
    exporting: Exporting, settings: object
) -> None:
    client = signed_in(exporting.entry)
    laughs = client.post(imports("MINI"), {"file": upload(BILLION_LAUGHS.encode()), "reason": "x"})
    assert laughs.status_code == 400
    assert "line 2: a DOCTYPE or entity declaration" in laughs.json()["detail"]
    settings.CARNET_ODM_MAX_MEGABYTES = 1  # type: ignore[attr-defined]
    big = client.post(imports("MINI"), {"file": upload(b" " * (1024 * 1024 + 10)), "reason": "x"})
    assert big.status_code == 400
    assert "over the limit of 1 MB" in big.json()["detail"]


def test_the_api_turns_an_odm_file_into_a_study_file_and_lists_what_was_not_carried(
    exporting: Exporting,
) -> None:
    client = signed_in(person("max", study=exporting.world.study, role=Role.DATA_MANAGER))
    answer = client.post(
        "/api/odm/study-definition", {"file": upload(VALID.read_bytes()), "identifier": "DAVE"}
    )
    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert "identifier: DAVE" in body["yaml"]
    assert body["not_carried_over"]
    assert all(entry["line"] > 0 for entry in body["not_carried_over"])
    assert any("de" in entry["message"] for entry in body["not_carried_over"])
    entry = signed_in(exporting.entry)
    assert (
        entry.post("/api/odm/study-definition", {"file": upload(VALID.read_bytes())}).status_code
        == 403
    )


def test_the_page_imports_data_and_makes_a_study_file(exporting: Exporting, tmp_path: Path) -> None:
    content = corrected(exporting)
    study, _entry = new_study_like(exporting, tmp_path)
    client = signed_in(person("dora", study=study, role=Role.DATA_MANAGER))
    url = reverse("interop:odm_import", args=["MINI2"])
    assert f'href="{url}"' in client.get(reverse("capture:import", args=["MINI2"])).content.decode()
    dry = client.post(
        url, {"action": "data", "file": upload(content), "reason": "From MINI", "dry_run": "1"}
    )
    assert dry.status_code == 200
    assert "Nothing was written" in dry.content.decode()
    made = client.post(url, {"action": "data", "file": upload(content), "reason": "From MINI"})
    assert made.status_code == 200
    assert "kept in the audit trail" in made.content.decode()
    assert AuditEvent.objects.filter(chain=study.audit_chain, action="odm.imported").count() == 1
    definition = client.post(url, {"action": "definition", "file": upload(VALID.read_bytes())})
    assert definition.status_code == 200
    page = definition.content.decode()
    assert "format: carnet-study/1" in page
    assert 'id="odm-not-carried"' in page
    hostile = client.post(url, {"action": "definition", "file": upload(BILLION_LAUGHS.encode())})
    assert hostile.status_code == 400
    assert "DOCTYPE" in hostile.content.decode()
