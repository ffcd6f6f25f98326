"""Locks (issue 19, item 4): a data manager locks a form, a visit, a subject or a site's data
with a reason; while in force, every entry point refuses a write to the data it covers (the
page, the API with 423, not-done, reopen, uploads); unlocking with a reason lets writes through
again; both are audited and shown on the casebook and the form."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from carnet.accounts.permissions import PermissionDenied
from carnet.accounts.services import token_create
from carnet.audit.models import AuditEvent
from carnet.audit.verification import audit_verify
from carnet.capture.models import FormInstance, ItemValue
from carnet.capture.services import form_file_attach, form_mark_not_done, form_reopen
from carnet.core.errors import ValidationError
from carnet.oversight.models import DataLock
from carnet.oversight.services import DataLocked, Place, data_lock, data_unlock
from tests.accounts.personas import ADMIN
from tests.oversight.conftest import Oversight

pytestmark = pytest.mark.django_db

SUBJECT = "/studies/MINI/subjects/01-001/"
VITALS = SUBJECT + "forms/baseline/1/vitals/"
LESIONS = SUBJECT + "forms/baseline/1/lesions/"
API_VITALS = "/api/studies/MINI/subjects/01-001/forms/baseline/1/vitals"
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


def api(o: Oversight, user) -> Client:  # type: ignore[no-untyped-def]
    _token, key = token_create(actor=ADMIN, user=user, study=o.study)
    return Client(headers={"authorization": f"Bearer {key}"})


def weight(o: Oversight) -> str:
    return ItemValue.objects.get(form_instance__subject=o.subject, item="weight").text


def test_a_locked_form_refuses_the_service_save_and_unlocking_lets_it_through(
    oversight: Oversight,
) -> None:
    o = oversight
    o.save(values={"weight": 70})
    lock = o.lock(reason="data cleaned before the interim analysis")
    with pytest.raises(DataLocked, match="These data are locked") as refused:
        o.save(values={"weight": 71})
    assert refused.value.status_code == 423
    assert "data cleaned before the interim analysis" in str(refused.value)
    assert weight(o) == "70"
    o.save(form="lesions", rows={"target": {1: {"lesion_site": "liver", "diameter": 20}}})

    data_unlock(actor=o.manager, lock=lock, reason="query answered")
    o.save(values={"weight": 71})
    assert weight(o) == "71"
    events = AuditEvent.objects.filter(action__in=["data.locked", "data.unlocked"]).order_by("seq")
    assert [(e.action, e.reason, e.actor_label) for e in events] == [
        ("data.locked", "data cleaned before the interim analysis", "dana (Dana)"),
        ("data.unlocked", "query answered", "dana (Dana)"),
    ]
    assert events[0].new["place"] == "01-001 baseline#1 vitals"
    assert audit_verify(chain="study:MINI").intact


@pytest.mark.parametrize("scope", ["visit", "subject", "site"])
def test_a_lock_of_a_visit_a_subject_or_a_site_covers_every_form_in_it(
    oversight: Oversight, scope: str
) -> None:
    o = oversight
    o.lock(scope=scope)
    with pytest.raises(DataLocked):
        o.save(form="lesions", rows={"target": {1: {"lesion_site": "liver", "diameter": 20}}})


def test_only_a_data_manager_locks_and_a_reason_is_required(oversight: Oversight) -> None:
    o = oversight
    place = Place(
        scope="form",
        site=o.subject.site,
        subject=o.subject,
        event="baseline",
        occurrence=1,
        form="vitals",
    )
    for user in (o.entry, o.investigator, o.monitor, o.inspector):
        with pytest.raises(PermissionDenied):
            data_lock(actor=user, study=o.study, place=place, reason="why not")
    with pytest.raises(ValidationError, match="give a reason"):
        data_lock(actor=o.manager, study=o.study, place=place, reason="  ")
    o.lock()
    with pytest.raises(ValidationError, match="already locked"):
        o.lock()
    assert DataLock.objects.count() == 1


def test_the_page_save_is_refused_with_the_lock_s_sentence_in_english_and_french(
    oversight: Oversight,
) -> None:
    o = oversight
    o.save(values={"weight": 70})
    o.lock(reason="cleaned")
    client = o.client(o.entry)
    page = {"version": "1", "v-weight": "72", "m-weight": ""}
    refused = client.post(VITALS, page, follow=True)
    assert "These data are locked (01-001 baseline#1 vitals, by Dana: cleaned)" in (
        refused.content.decode()
    )
    client.post("/language/", {"language": "fr", "next": "/"})
    french = client.post(VITALS, page, follow=True).content.decode()
    assert "Ces données sont verrouillées" in french
    assert weight(o) == "70"


def test_the_api_save_answers_423_locked_with_a_clear_message(oversight: Oversight) -> None:
    o = oversight
    o.save(values={"weight": 70})
    o.lock()
    client = api(o, o.entry)
    refused = client.put(
        API_VITALS, {"version": 1, "values": {"weight": 72}}, content_type="application/json"
    )
    assert refused.status_code == 423, refused.content
    assert "These data are locked" in refused.json()["detail"]
    french = client.put(
        API_VITALS,
        {"version": 1, "values": {"weight": 72}},
        content_type="application/json",
        headers={"accept-language": "fr"},
    )
    assert french.status_code == 423
    assert weight(o) == "70"


def test_not_done_reopen_and_uploads_of_a_locked_form_are_refused(
    oversight: Oversight,
    settings,
    tmp_path,  # type: ignore[no-untyped-def]
) -> None:
    settings.DATA_DIR = tmp_path
    o = oversight
    o.save(form="lesions", rows={"target": {1: {"lesion_site": "liver", "diameter": 20}}})
    where = {"actor": o.entry, "subject": o.subject, "event": "baseline", "form": "lesions"}
    o.lock(form="lesions")
    with pytest.raises(DataLocked):
        form_mark_not_done(**where, base_version=1, reason="scanner broken")
    with pytest.raises(DataLocked):
        form_file_attach(
            **where,
            item="scan_pdf",
            upload=SimpleUploadedFile("scan.pdf", PDF, "application/pdf"),
            base_version=1,
        )
    lock = DataLock.objects.get()
    data_unlock(actor=o.manager, lock=lock, reason="scan arrived")
    form_mark_not_done(**where, base_version=1, reason="scanner broken")
    o.lock(form="lesions")
    with pytest.raises(DataLocked):
        form_reopen(**where, base_version=2, reason="done after all")
    assert FormInstance.objects.get(form="lesions").status == "not_done"
    # The pages of not-done and reopen refuse too, with the lock's sentence.
    client = o.client(o.entry)
    refused = client.post(LESIONS + "reopen/", {"version": "2", "reason": "done"}, follow=True)
    assert "These data are locked" in refused.content.decode()
    upload = client.post(
        LESIONS + "files/scan_pdf/",
        {"version": "2", "upload": SimpleUploadedFile("scan.pdf", PDF, "application/pdf")},
        follow=True,
    )
    assert "These data are locked" in upload.content.decode()


def test_the_api_of_not_done_reopen_and_uploads_answers_423(
    oversight: Oversight,
    settings,
    tmp_path,  # type: ignore[no-untyped-def]
) -> None:
    settings.DATA_DIR = tmp_path
    o = oversight
    o.save(form="lesions", rows={"target": {1: {"lesion_site": "liver", "diameter": 20}}})
    o.lock(form="lesions")
    client = api(o, o.entry)
    base = "/api/studies/MINI/subjects/01-001/forms/baseline/1/lesions"
    not_done = client.post(
        base + "/not-done",
        {"version": 1, "reason": "scanner broken"},
        content_type="application/json",
    )
    assert not_done.status_code == 423, not_done.content
    upload = client.post(
        base + "/files/scan_pdf",
        {"version": "1", "upload": SimpleUploadedFile("scan.pdf", PDF, "application/pdf")},
    )
    assert upload.status_code == 423, upload.content


def test_locks_show_on_the_casebook_the_form_and_the_study_s_list(oversight: Oversight) -> None:
    o = oversight
    o.save(values={"weight": 70})
    o.lock(reason="cleaned")
    casebook = o.client(o.entry).get(SUBJECT + "casebook/").content.decode()
    assert "Locked (01-001 baseline#1 vitals)" in casebook
    form = o.client(o.entry).get(VITALS).content.decode()
    assert "Locked (01-001 baseline#1 vitals)" in form
    panel = o.client(o.manager).get(VITALS + "oversight/").content.decode()
    assert "by Dana (cleaned)" in panel
    assert 'name="reason"' in panel  # the data manager may unlock from the panel
    listing = o.client(o.monitor).get("/studies/MINI/locks/").content.decode()
    assert "01-001 baseline#1 vitals" in listing
    assert "Unlock" not in listing  # a monitor sees the locks, never unlocks


def test_the_api_lists_locks_and_data_managers_lock_and_unlock(oversight: Oversight) -> None:
    o = oversight
    client = api(o, o.manager)
    created = client.post(
        "/api/studies/MINI/locks",
        {"scope": "site", "site": "01", "reason": "site closed"},
        content_type="application/json",
    )
    assert created.status_code == 201, created.content
    lock = created.json()
    assert (lock["place"], lock["in_force"]) == ("site 01", True)
    with pytest.raises(DataLocked):
        o.save(values={"weight": 70})
    refused = api(o, o.entry).post(
        "/api/studies/MINI/locks",
        {"scope": "subject", "subject": "01-001", "reason": "mine"},
        content_type="application/json",
    )
    assert refused.status_code == 403
    lifted = client.post(
        f"/api/studies/MINI/locks/{lock['id']}/unlock",
        {"reason": "reopened"},
        content_type="application/json",
    )
    assert lifted.json()["in_force"] is False
    assert [x["id"] for x in client.get("/api/studies/MINI/locks").json()] == [lock["id"]]
    assert client.get("/api/studies/MINI/locks?in_force=true").json() == []
    o.save(values={"weight": 70})
