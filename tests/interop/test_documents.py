"""Documents for the trial master file: the annotated CRF names every item's SAS name as the XPT
export does; a subject's casebook PDF is blinded for the site, refused outside its scope, and
audited; a whole site's archive is a zip of PDFs with a manifest of hashes."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from django.test import Client
from django.urls import reverse
from django.utils.html import escape

from carnet.accounts.blinding import Blinding
from carnet.accounts.permissions import PermissionDenied
from carnet.accounts.roles import Role
from carnet.audit.models import AuditEvent
from carnet.audit.services import SystemActor
from carnet.core.hashing import sha256_hex
from carnet.interop.casebook_documents import casebook_document, casebook_html
from carnet.interop.casebook_services import (
    casebook_archive_download,
    casebook_archive_execute,
    casebook_archive_request,
    casebook_archive_write,
    casebook_export,
)
from carnet.interop.crf_documents import crf_build, crf_html, crf_pdf, crf_sas_names
from carnet.interop.documents_models import ArchiveStatus
from carnet.interop.exports import export_write
from carnet.interop.extra_datasets import EXTRA_DATASETS
from carnet.interop.services import cutoff_create
from carnet.interop.writers import sas_names
from tests.accounts.personas import person
from tests.interop.conftest import INITIALS, KIT, Exporting

pytestmark = pytest.mark.django_db


def test_the_annotated_crf_names_every_item_with_its_sas_name(exporting: Exporting) -> None:
    study = exporting.world.study
    assert study.current_version is not None
    crf = crf_build(study=study, version=study.current_version, annotated=True)
    html = crf_html(crf)
    definition = study.current_version.parsed()
    _members, names = crf_sas_names(definition)
    for form, group, item in definition.items():
        assert f'id="item-{form.name}-{item.name}"' in html
        if item.type == "file" or item.identifying:
            continue
        dataset = f"{form.name}_{group.name}" if group.repeating else form.name
        assert f'<code class="sas">{names[(dataset, item.name)]}</code>' in html
    # The kit number is in the CRF (structure, not data), marked as revealing the arm.
    assert "item-vitals-kit_number" in html
    assert 'class="flag arm-revealing"' in html
    # Rules: expression and message.
    for form in definition.forms:
        for check in form.checks:
            assert escape(check.expression) in html
            assert escape(check.message.en) in html


def test_the_crf_sas_names_are_those_of_the_xpt_export(exporting: Exporting) -> None:
    e = exporting
    cutoff = cutoff_create(actor=e.unblinded, study=e.world.study, name="C1", reason="TMF")
    target = io.BytesIO()
    export_write(
        actor=e.unblinded,
        study=e.world.study,
        cutoff=cutoff,
        file_format="xpt",
        target=target,
        unblinded=True,
    )
    manifest = json.loads(zipfile.ZipFile(io.BytesIO(target.getvalue())).read("manifest.json"))
    assert e.world.study.current_version is not None
    members, names = crf_sas_names(e.world.study.current_version.parsed())
    # The subjects' dataset and those other apps add (the coded terms) are not forms of the CRF.
    not_forms = {"subjects"} | {extra.name for extra in EXTRA_DATASETS}
    for member, mapping in manifest["sas_names"].items():
        dataset = mapping["dataset"]
        if dataset in not_forms:
            continue
        assert members[dataset] == member
        for (named_dataset, item), sas in names.items():
            if named_dataset == dataset:
                assert mapping[item] == sas
    assert sas_names(["x"]) == {"x": "X"}


def test_the_blank_crf_has_no_annotations_and_both_make_pdfs(exporting: Exporting) -> None:
    study = exporting.world.study
    assert study.current_version is not None
    blank = crf_build(study=study, version=study.current_version, annotated=False, language="fr")
    html = crf_html(blank)
    assert 'class="sas"' not in html
    assert "CRF vierge" in html or "Blank CRF" in html
    pdf = crf_pdf(blank)
    assert pdf.startswith(b"%PDF")
    assert len(pdf) > 1000


def test_a_site_user_gets_a_blinded_casebook_pdf_and_it_is_audited(exporting: Exporting) -> None:
    e = exporting
    made = casebook_export(actor=e.entry, subject=e.subject)
    assert made.content.startswith(b"%PDF")
    assert len(made.content) > 1000
    assert made.sha256 == sha256_hex(made.content)
    event = AuditEvent.objects.filter(chain="study:MINI").order_by("-seq").first()
    assert event is not None
    assert event.action == "casebook.exported"
    assert event.new["subject"] == e.subject.identifier
    assert event.new["sha256"] == made.sha256
    assert event.new["blinded"] is True
    assert event.actor_id == e.entry.pk


def test_a_blinded_casebook_shows_no_arm_no_kit_and_no_identifying_value(
    exporting: Exporting,
) -> None:
    e = exporting
    html = casebook_html(casebook_document(subject=e.subject, blinding=Blinding(unblinded=False)))
    assert e.subject.identifier in html
    assert KIT not in html
    assert e.arm not in html
    assert INITIALS not in html
    assert "(blinded)" in html
    assert "randomisation.allocated" in html  # the event is there, its arm masked
    assert "liver" in html  # values of the repeating group
    unblinded = casebook_html(
        casebook_document(subject=e.subject, blinding=Blinding(unblinded=True))
    )
    assert KIT in unblinded
    assert e.arm in unblinded
    assert INITIALS not in unblinded  # pseudonymised for everyone


def test_the_casebook_lists_the_subjects_audit_trail_with_zone(exporting: Exporting) -> None:
    e = exporting
    document = casebook_document(subject=e.subject, blinding=Blinding(unblinded=False))
    actions = [line.action for line in document.audit]
    assert actions[0] == "subject.included"
    assert "item.changed" in actions
    html = casebook_html(document)
    assert "CET" in html or "CEST" in html
    assert document.content_sha256 in html
    again = casebook_document(subject=e.subject, blinding=Blinding(unblinded=False))
    assert again.content_sha256 == document.content_sha256


def test_an_out_of_scope_subject_is_refused(exporting: Exporting) -> None:
    e = exporting
    other_site = person("bruno", study=e.world.study, role=Role.DATA_ENTRY, sites=[e.world.site_b])
    before = AuditEvent.objects.count()
    with pytest.raises(PermissionDenied):
        casebook_export(actor=other_site, subject=e.subject)
    with pytest.raises(PermissionDenied):
        casebook_archive_write(
            actor=other_site, study=e.world.study, site=e.world.site_a, target=io.BytesIO()
        )
    assert AuditEvent.objects.count() == before


def test_a_site_archive_is_a_zip_of_pdfs_with_a_manifest_of_hashes(exporting: Exporting) -> None:
    e = exporting
    target = io.BytesIO()
    seen: list[tuple[int, int]] = []
    made = casebook_archive_write(
        actor=SystemActor("test"),
        study=e.world.study,
        site=e.world.site_a,
        target=target,
        progress=lambda done, total, _name: seen.append((done, total)),
    )
    opened = zipfile.ZipFile(io.BytesIO(target.getvalue()))
    manifest = json.loads(opened.read("manifest.json"))
    assert [c["subject"] for c in manifest["casebooks"]] == [e.subject.identifier]
    for entry in manifest["casebooks"]:
        content = opened.read(entry["file"])
        assert content.startswith(b"%PDF")
        assert sha256_hex(content) == entry["sha256"]
    assert seen == [(1, 1)]
    assert made.manifest_sha256 == sha256_hex(opened.read("manifest.json"))
    event = AuditEvent.objects.filter(chain="study:MINI").order_by("-seq").first()
    assert event is not None
    assert event.action == "casebook.archive_exported"


def test_a_site_archive_runs_in_the_worker_and_is_downloaded(
    exporting: Exporting, settings: pytest.FixtureRequest, tmp_path: object
) -> None:
    e = exporting
    settings.DATA_DIR = tmp_path  # type: ignore[attr-defined]
    run = casebook_archive_request(actor=e.entry, study=e.world.study, site=e.world.site_a)
    assert run.status == ArchiveStatus.QUEUED
    assert run.subjects_total == 1
    # A second request while it waits is the same run.
    assert casebook_archive_request(actor=e.entry, study=e.world.study, site=e.world.site_a) == run
    run = casebook_archive_execute(run=run)
    assert run.status == ArchiveStatus.DONE
    assert run.percent == 100
    path = casebook_archive_download(actor=e.entry, run=run)
    assert sha256_hex(path.read_bytes()) == run.sha256
    assert AuditEvent.objects.filter(action="casebook.archive_downloaded").count() == 1


# --- pages and API ---------------------------------------------------------------------------


def _client(user: object) -> Client:
    from tests.interop.test_pages_and_api import signed_in

    return signed_in(user)  # type: ignore[arg-type]


def test_a_site_user_downloads_a_casebook_pdf_from_the_page(exporting: Exporting) -> None:
    e = exporting
    client = _client(e.entry)
    casebook = client.get(reverse("capture:casebook", args=["MINI", e.subject.identifier]))
    link = reverse("interop:casebook_pdf", args=["MINI", e.subject.identifier])
    assert link in casebook.content.decode()
    answer = client.get(link)
    assert answer.status_code == 200
    assert answer["Content-Type"] == "application/pdf"
    assert answer.content.startswith(b"%PDF")
    assert answer["X-Content-SHA256"] == sha256_hex(answer.content)
    # Another site's data entry: as if there were no such subject.
    other = person("bruno", study=e.world.study, role=Role.DATA_ENTRY, sites=[e.world.site_b])
    assert _client(other).get(link).status_code == 404


def test_the_documents_page_offers_the_crfs_and_the_sites_archives(exporting: Exporting) -> None:
    e = exporting
    client = _client(e.monitor)
    study_page = client.get(reverse("studies:study", args=["MINI"])).content.decode()
    assert reverse("interop:documents", args=["MINI"]) in study_page
    page = client.get(
        reverse("interop:documents", args=["MINI"]), headers={"accept-language": "fr"}
    )
    html = page.content.decode()
    assert reverse("interop:crf", args=["MINI", "annotated", "pdf"]) in html
    assert 'id="archive-start-01"' in html
    assert 'id="archive-start-02"' not in html  # the monitor covers site 01 only
    annotated = client.get(reverse("interop:crf", args=["MINI", "annotated", "pdf"]))
    assert annotated["Content-Type"] == "application/pdf"
    assert annotated.content.startswith(b"%PDF")
    blank = client.get(reverse("interop:crf", args=["MINI", "blank", "html"]))
    assert 'class="sas"' not in blank.content.decode()


def test_the_api_answers_the_crf_as_data_and_a_casebook_as_pdf(exporting: Exporting) -> None:
    e = exporting
    statistician = _client(e.statistician)
    crf = statistician.get("/api/studies/MINI/crf").json()
    vitals = next(form for form in crf["forms"] if form["name"] == "vitals")
    items = {i["name"]: i for g in vitals["groups"] for i in g["items"]}
    assert items["weight"]["sas_name"] == "WEIGHT"
    assert items["kit_number"]["arm_revealing"] is True
    pdf = statistician.get("/api/studies/MINI/crf?format=pdf&annotated=false")
    assert pdf.content.startswith(b"%PDF")
    entry = _client(e.entry)
    answer = entry.post(
        f"/api/studies/MINI/subjects/{e.subject.identifier}/archival-casebook",
        {"language": "fr"},
        content_type="application/json",
    )
    assert answer.status_code == 200
    assert answer.content.startswith(b"%PDF")
    refused = entry.post(
        f"/api/studies/MINI/subjects/{e.subject.identifier}/archival-casebook",
        {"language": "xx"},
        content_type="application/json",
    )
    assert refused.status_code == 400
    queued = entry.post(
        "/api/studies/MINI/casebook-archives", {"site": "01"}, content_type="application/json"
    )
    assert queued.status_code == 202, queued.content
    assert queued.json()["subjects_total"] == 1
    listed = entry.get("/api/studies/MINI/casebook-archives").json()
    assert [run["site"] for run in listed] == ["01"]


def test_a_site_archive_is_queued_from_the_page_followed_and_downloaded(
    exporting: Exporting, settings: pytest.FixtureRequest, tmp_path: object
) -> None:
    from carnet.interop.documents_models import CasebookArchive

    e = exporting
    settings.DATA_DIR = tmp_path  # type: ignore[attr-defined]
    client = _client(e.entry)
    queued = client.post(reverse("interop:archive_request", args=["MINI", "01"]))
    assert queued.status_code == 302
    run = CasebookArchive.objects.get()
    progress = reverse("interop:archive_progress", args=["MINI", run.pk])
    assert 'hx-trigger="every 1s"' in client.get(progress).content.decode()
    casebook_archive_execute(run=run)
    done = client.get(progress).content.decode()
    download = reverse("interop:archive_download", args=["MINI", run.pk])
    assert download in done
    assert "hx-trigger" not in done
    answer = client.get(download)
    assert answer.status_code == 200
    content = b"".join(answer.streaming_content)  # type: ignore[attr-defined]
    assert zipfile.ZipFile(io.BytesIO(content)).read("manifest.json")
    # Another site's staff may neither follow nor download it.
    other = _client(
        person("bruno", study=e.world.study, role=Role.DATA_ENTRY, sites=[e.world.site_b])
    )
    assert other.get(progress).status_code == 404
    assert other.get(download).status_code == 404
    assert other.post(reverse("interop:archive_request", args=["MINI", "01"])).status_code == 404
