"""Source data verification (issue 19, item 1): a monitor verifies an item, a form, a visit or a
whole casebook in one action, audited; a change of verified data resets its SDV, which the form,
the casebook, the SDV page and the API show; a monitor of another site is refused; no value, and
so no arm-revealing value, is ever shown."""

from __future__ import annotations

import pytest

from carnet.accounts.permissions import PermissionDenied
from carnet.audit.models import AuditEvent
from carnet.audit.verification import audit_verify
from carnet.capture.services import form_save
from carnet.core.errors import ValidationError
from carnet.monitoring.models import SourceVerification
from carnet.monitoring.selectors import sdv_outstanding, sdv_states
from carnet.monitoring.services import sdv_verify
from carnet.studies.models import StudyVersion
from tests.monitoring.conftest import KIT, Monitoring
from tests.studies.decodes import definition_decodes

pytestmark = pytest.mark.django_db

SUBJECT = "/studies/MINI/subjects/01-001/"
VITALS = SUBJECT + "forms/baseline/1/vitals/"
API_SDV = "/api/studies/MINI/subjects/01-001/sdv"


def in_force(m: Monitoring) -> set[str]:
    return {v.item for v in SourceVerification.objects.filter(subject=m.subject, reset_at=None)}


def test_a_monitor_verifies_a_whole_visit_in_one_action_and_it_is_audited(
    monitoring: Monitoring,
) -> None:
    m = monitoring
    m.vitals()
    done = sdv_verify(actor=m.monitor, subject=m.subject, event="baseline", occurrence=1)
    # bmi is calculated: nobody verifies it against a source.
    assert in_force(m) == {"weight", "height", "sbp", "dbp", "kit_number"}
    assert len(done) == 5
    event = AuditEvent.objects.get(action="sdv.verified")
    assert event.actor_label == "sophie (Sophie)"
    assert event.new["place"] == "01-001 baseline#1"
    assert "baseline#1 vitals weight" in event.new["items"]
    assert audit_verify(chain="study:MINI").intact
    with pytest.raises(ValidationError, match="nothing entered here left to verify"):
        sdv_verify(actor=m.monitor, subject=m.subject, event="baseline", occurrence=1)


def test_one_item_and_one_form_and_the_whole_casebook(monitoring: Monitoring) -> None:
    m = monitoring
    m.vitals()
    sdv_verify(
        actor=m.monitor,
        subject=m.subject,
        event="baseline",
        occurrence=1,
        form="vitals",
        item="weight",
    )
    assert in_force(m) == {"weight"}
    sdv_verify(actor=m.monitor, subject=m.subject, event="baseline", occurrence=1, form="vitals")
    assert len(in_force(m)) == 5
    m.save(form="lesions", rows={"target": {1: {"lesion_site": "liver", "diameter": 20}}})
    sdv_verify(actor=m.monitor, subject=m.subject)
    assert {"lesion_site", "diameter"} <= in_force(m)


def test_a_change_resets_the_sdv_of_that_item_only_and_every_page_and_the_api_show_it(
    monitoring: Monitoring,
) -> None:
    m = monitoring
    m.vitals()
    sdv_verify(actor=m.monitor, subject=m.subject, event="baseline", occurrence=1)
    m.save(values={"weight": 72})
    assert in_force(m) == {"height", "sbp", "dbp", "kit_number"}
    reset = SourceVerification.objects.get(item="weight")
    assert reset.reset_at is not None
    assert reset.reset_by == "Julie"
    event = AuditEvent.objects.get(action="sdv.reset")
    assert event.new["items"] == ["weight"]
    assert event.old == {"verified_by": [reset.verified_by_name]}
    assert audit_verify(chain="study:MINI").intact

    page = m.client(m.monitor).get(SUBJECT + "sdv/").content.decode()
    assert 'data-item="weight" class="sdv-reset"' in page
    assert 'data-item="height" class="sdv-verified"' in page
    form = m.client(m.nurse).get(VITALS).content.decode()
    assert "SDV reset" in form
    assert "SDV 4/5 · 1 reset" in form
    casebook = m.client(m.nurse).get(SUBJECT + "casebook/").content.decode()
    assert "SDV 4/5 · 1 reset" in casebook
    answer = m.api(m.monitor).get(API_SDV).json()
    weight = next(i for f in answer for i in f["items"] if i["item"] == "weight")
    assert weight["verified"] is False
    assert weight["reset"] is True
    height = next(i for f in answer for i in f["items"] if i["item"] == "height")
    assert height["verified"] is True
    assert height["verified_by"] == "Sophie"


def test_a_monitor_of_another_site_is_refused_everywhere(monitoring: Monitoring) -> None:
    m = monitoring
    m.vitals()
    with pytest.raises(PermissionDenied):
        sdv_verify(actor=m.monitor_b, subject=m.subject)
    for user in (m.nurse, m.manager):
        with pytest.raises(PermissionDenied):
            sdv_verify(actor=user, subject=m.subject)
    assert m.client(m.monitor_b).get(SUBJECT + "sdv/").status_code == 404
    refused = m.client(m.monitor_b).post(SUBJECT + "sdv/verify/", {})
    assert refused.status_code == 404
    answer = m.api(m.monitor_b).post(API_SDV, {}, content_type="application/json")
    assert answer.status_code in {403, 404}
    assert not SourceVerification.objects.exists()


def test_the_api_verifies_in_bulk_and_answers_what_it_verified(monitoring: Monitoring) -> None:
    m = monitoring
    m.vitals()
    answer = m.api(m.monitor).post(
        API_SDV,
        {"event": "baseline", "occurrence": 1, "form": "vitals"},
        content_type="application/json",
    )
    assert answer.status_code == 201, answer.content
    assert answer.json()["verified"] == 5
    assert sdv_outstanding(study=m.study) == 0


def test_no_value_and_so_no_arm_revealing_value_is_shown(monitoring: Monitoring) -> None:
    m = monitoring
    m.vitals()
    sdv_verify(actor=m.monitor, subject=m.subject, event="baseline", occurrence=1)
    m.save(values={"weight": 72})
    for url in (SUBJECT + "sdv/", VITALS + "sdv/", "/studies/MINI/monitoring/"):
        page = m.client(m.monitor).get(url)
        assert page.status_code == 200
        assert KIT not in page.content.decode()
    assert KIT not in m.api(m.monitor).get(API_SDV).content.decode()
    assert KIT not in str(
        list(AuditEvent.objects.filter(action__startswith="sdv.").values("new", "old"))
    )


def test_the_form_s_sdv_panel_lets_the_monitor_verify_one_item(monitoring: Monitoring) -> None:
    m = monitoring
    m.vitals()
    client = m.client(m.monitor)
    panel = client.get(VITALS + "sdv/", headers={"HX-Request": "true"}).content.decode()
    assert 'id="sdv-panel"' in panel
    assert "Verify the whole form" in panel
    client.post(
        SUBJECT + "sdv/verify/",
        {
            "event": "baseline",
            "occurrence": "1",
            "form": "vitals",
            "repeat": "1",
            "item": "sbp",
            "row": "0",
            "next": VITALS,
        },
    )
    assert in_force(m) == {"sbp"}
    form = m.client(m.monitor).get(VITALS).content.decode()
    assert "Verified (SDV) by" in form


def test_the_states_count_what_the_plan_requires(monitoring: Monitoring) -> None:
    m = monitoring
    m.vitals()
    (state,) = sdv_states(m.subject)
    assert state.required == 5
    assert state.verified == 0


def test_an_import_that_changes_verified_values_resets_their_sdv_only(
    monitoring: Monitoring,
) -> None:
    # The bulk path runs the listener's set-wise form: the same resets, the same audit events.
    from carnet.capture.bulk import FormRecord, forms_import

    m = monitoring
    m.vitals()
    other = m.include(on=m.subject.included_on)
    m.vitals(other)
    sdv_verify(actor=m.monitor, subject=m.subject, event="baseline", occurrence=1)
    sdv_verify(actor=m.monitor, subject=other, event="baseline", occurrence=1)
    records = [
        FormRecord(subject=m.subject, event="baseline", form="vitals", values={"sbp": 118}),
        FormRecord(subject=other, event="baseline", form="vitals", values={"height": 170}),
    ]
    forms_import(actor=m.nurse, study=m.study, records=records, reason="lab transfer")

    assert in_force(m) == {"weight", "height", "dbp", "kit_number"}
    reset = SourceVerification.objects.get(subject=m.subject, item="sbp")
    assert (reset.reset_by, reset.reset_reason) == ("Julie", "lab transfer")
    # The other subject's height was sent unchanged: nothing of theirs is reset.
    assert not SourceVerification.objects.filter(subject=other).exclude(reset_at=None).exists()
    event = AuditEvent.objects.get(action="sdv.reset")
    assert event.new["items"] == ["sbp"]
    assert event.reason == "lab transfer"
    assert audit_verify(chain="study:MINI").intact


def test_the_states_decode_each_study_version_once_whatever_the_number_of_forms(
    monitoring: Monitoring, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A casebook of 60 cycles decoded the study's definition once per saved form (300 ms a page
    # on PostgreSQL at 10,000 patients): the states read each version of the study once (MINI
    # has two: the fixture's and its amendment).
    m = monitoring
    m.vitals()
    for cycle in (1, 2, 3):
        form_save(
            actor=m.nurse,
            subject=m.subject,
            event="cycle",
            occurrence=cycle,
            form="vitals",
            base_version=0,
            values={"weight": 70, "height": 170, "sbp": 120, "dbp": 80},
        )
    with definition_decodes(monkeypatch) as decoded:
        states = sdv_states(m.subject)
    assert len(states) == 4
    assert len(decoded) <= StudyVersion.objects.filter(study=m.study).count() == 2
