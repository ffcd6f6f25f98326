"""The subjects pages through the Django test client, on 16 June 2025 (the suite's clock).

Alice is an investigator at site A, Bea does data entry at site B, Moe monitors site A, Dana is
the data manager for every site. Each page shows what the person may see, refuses the others
with the same 404, and a refused form says why next to the field and writes nothing.
"""

from __future__ import annotations

import html as entities
from datetime import UTC, date, datetime
from typing import Any

import pytest
import time_machine
from django.test import Client

from carnet.accounts.services import token_create
from carnet.audit.models import AuditEvent
from carnet.subjects.models import ScreeningEntry, Subject
from carnet.subjects.services import (
    subject_change_status,
    subject_change_treatment,
    subject_settings_set,
)
from tests.accounts.personas import ADMIN, person
from tests.subjects.conftest import Cast, Snapshot, include
from tests.web.helpers import enrol

BASE = "/studies/MINI"


def client_for(user: Any, *, second_factor: bool = False) -> Client:
    client = Client()
    client.force_login(user)
    if second_factor:
        enrol(client)
    return client


def wizard(**changes: Any) -> dict[str, Any]:
    """Return what a person types in the registration wizard for an eligible patient at A."""
    data = {
        "site": "01",
        "included_on": "2025-06-10",
        "screening_number": "S-17",
        "sex": "F",
        "age": "61",
        "consent_version": "v1.0",
        "consented_on": "2025-06-09",
        "item_weight": "72.5",
        "item_packs": "10",
        "step": "include",
    }
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


# --- list and header ------------------------------------------------------------------------


def test_the_list_shows_the_subjects_of_ones_sites_with_statuses_and_next_visit(
    cast: Cast,
) -> None:
    include(cast)
    include(cast, actor=cast.bea, site=cast.site_b)
    page = client_for(cast.alice).get(f"{BASE}/subjects/")
    assert page.status_code == 200
    html = page.text
    assert "01-001" in html
    assert "02-001" not in html  # Bea's patient, at site B
    row = page.context["rows"][0]
    assert str(row["study_status"]) == "included"
    # Baseline's window closed on 2 June, the day of inclusion: including the patient says it
    # took place, so it is not overdue (issue 14); cycle 1 is due today.
    assert (row["next_visit"]["event"], row["next_visit"]["status"]) == ("Cycle", "due")
    assert row["overdue"] == 0
    assert "2025-06-02" in html  # date of last news


def test_the_list_filters_by_status_and_overdue_visits(cast: Cast) -> None:
    include(cast)  # cycle 1 due 16 June (window 14 to 19 June)
    include(cast, on=date(2025, 6, 16))  # cycle 1 due 30 June: nothing overdue on the 21st
    alice = client_for(cast.alice)
    with time_machine.travel(datetime(2025, 6, 21, 10, 0, tzinfo=UTC), tick=False):
        alice.force_login(cast.alice)
        overdue = alice.get(f"{BASE}/subjects/", {"overdue": "on"})
    assert [r["subject"].identifier for r in overdue.context["rows"]] == ["01-001"]
    nobody = alice.get(f"{BASE}/subjects/", {"study_status": "withdrawn"})
    assert nobody.context["rows"] == []
    assert "No subject matches." in nobody.text
    refused = alice.get(f"{BASE}/subjects/", {"study_status": "asleep"})
    assert refused.status_code == 400
    assert "asleep" in str(refused.context["form"].errors["study_status"])


def test_the_subject_page_shows_the_header_and_the_schedule_with_windows(cast: Cast) -> None:
    include(cast)
    page = client_for(cast.alice).get(f"{BASE}/subjects/01-001/")
    assert page.status_code == 200
    assert "ICM" in page.text or "Institut du Cancer de Montpellier" in page.text
    schedule = page.context["schedule"]
    baseline, cycle = schedule[0], schedule[1]
    # A visit whose window closes by the inclusion took place: the inclusion says so.
    assert (baseline["event"], baseline["status"]) == ("Baseline", "done")
    assert (baseline["earliest"], baseline["latest"]) == (date(2025, 5, 26), date(2025, 6, 2))
    assert (cycle["target"], cycle["status"]) == (date(2025, 6, 16), "due")
    assert 'class="window window-due"' in page.text
    assert 'class="window window-overdue"' not in page.text


def test_the_pages_speak_french(cast: Cast) -> None:
    include(cast)
    alice = client_for(cast.alice)
    alice.post("/language/", {"language": "fr", "next": "/"})
    page = alice.get(f"{BASE}/subjects/01-001/")
    assert "Date des dernières nouvelles" in page.text
    assert page.context["schedule"][0]["event"] == "Inclusion"  # the event's French label
    assert "en retard" in page.text


def test_an_unknown_and_a_forbidden_subject_are_the_same_404(cast: Cast) -> None:
    include(cast, actor=cast.bea, site=cast.site_b)
    alice = client_for(cast.alice)
    assert alice.get(f"{BASE}/subjects/02-001/").status_code == 404
    assert alice.get(f"{BASE}/subjects/02-999/").status_code == 404
    assert alice.post(f"{BASE}/subjects/02-001/news/", {}).status_code == 404
    outsider = client_for(person("olga"))
    assert outsider.get(f"{BASE}/subjects/").status_code == 404
    assert outsider.get("/studies/NOPE/subjects/").status_code == 404


# --- registration wizard --------------------------------------------------------------------


def test_checking_eligibility_shows_each_criterion_and_writes_nothing(cast: Cast) -> None:
    snapshot = Snapshot()
    page = client_for(cast.alice).post(
        f"{BASE}/subjects/new/", wizard(item_weight="38", consent_version="", step="check")
    )
    assert page.status_code == 200
    criteria = {c["name"]: c for c in page.context["criteria"]}
    assert criteria["adult_weight"]["met"] is False
    assert criteria["heavy_smoker"]["met"] is True
    assert "Weight over 40 kg" in page.text
    assert page.context["form"].errors == {}  # the consent is not needed to check
    assert snapshot.unchanged()


def test_the_check_answers_htmx_with_the_result_panel_only(cast: Cast) -> None:
    page = client_for(cast.alice).post(
        f"{BASE}/subjects/new/", wizard(step="check"), headers={"HX-Request": "true"}
    )
    assert page.text.lstrip().startswith('<div id="eligibility-result"')
    assert "the patient is eligible" in page.text


def test_an_ineligible_patient_is_refused_with_the_failed_criterion_and_values_kept(
    cast: Cast,
) -> None:
    snapshot = Snapshot()
    page = client_for(cast.alice).post(f"{BASE}/subjects/new/", wizard(item_packs="75"))
    assert page.status_code == 400
    assert [c["name"] for c in page.context["criteria"]] == ["heavy_smoker"]
    assert "Over 60 pack-years" in page.text
    assert 'value="75"' in page.text
    assert 'value="S-17"' in page.text
    assert snapshot.unchanged()


def test_an_eligible_patient_is_included_and_lands_on_their_page(cast: Cast) -> None:
    alice = client_for(cast.alice)
    done = alice.post(f"{BASE}/subjects/new/", wizard())
    assert done.status_code == 302
    assert done["Location"] == f"{BASE}/subjects/01-001/"
    subject = Subject.objects.get(identifier="01-001")
    assert (subject.screening_number, subject.age_at_inclusion) == ("S-17", 61)
    assert subject.eligibility["values"] == {"weight": 72.5, "packs": 10}
    assert "01-001 is included." in alice.get(done["Location"]).text


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"included_on": "2025-06-17"}, "included_on", "is in the future"),
        ({"consented_on": "2025-06-11"}, "consented_on", "must come before inclusion"),
        ({"consent_version": ""}, "consent_version", "required"),
        ({"item_weight": "heavy"}, "item_weight", "number"),
        ({"site": "02"}, "site", "valid choice"),
    ],
)
def test_the_wizard_refuses_bad_input_next_to_the_field(
    cast: Cast, changes: dict[str, str], field: str, words: str
) -> None:
    snapshot = Snapshot()
    page = client_for(cast.alice).post(f"{BASE}/subjects/new/", wizard(**changes))
    assert page.status_code == 400
    assert words in " ".join(page.context["form"].errors[field])
    assert snapshot.unchanged()


def test_a_screening_number_used_at_the_site_is_refused_at_its_field(cast: Cast) -> None:
    include(cast, screening_number="S-17")
    page = client_for(cast.alice).post(f"{BASE}/subjects/new/", wizard())
    assert "already used at site 01" in " ".join(page.context["form"].errors["screening_number"])


def test_only_site_staff_may_open_the_wizard(cast: Cast) -> None:
    assert client_for(cast.moe).get(f"{BASE}/subjects/new/").status_code == 404
    assert client_for(cast.moe).post(f"{BASE}/subjects/new/", wizard()).status_code == 404
    assert not Subject.objects.exists()
    assert client_for(cast.alice).get(f"{BASE}/subjects/new/").status_code == 200


# --- the subject page's actions -------------------------------------------------------------


def test_a_consent_is_recorded_and_a_future_one_refused_at_its_field(cast: Cast) -> None:
    include(cast)
    alice = client_for(cast.alice)
    url = f"{BASE}/subjects/01-001/consents/"
    snapshot = Snapshot()
    refused = alice.post(
        url, {"consent-form_version": "v2.0", "consent-consented_on": "2025-07-01"}
    )
    assert refused.status_code == 400
    assert "is in the future" in " ".join(
        refused.context["forms"]["consent"].errors["consented_on"]
    )
    assert snapshot.unchanged()
    done = alice.post(
        url,
        {
            "consent-form_version": "v2.0",
            "consent-consented_on": "2025-06-12",
            "consent-biobank": "on",
        },
    )
    assert done.status_code == 302
    assert list(Subject.objects.get().consents.values_list("form_version", flat=True)) == [
        "v1.0",
        "v2.0",
    ]


def test_a_monitor_sees_the_subject_but_cannot_act(cast: Cast) -> None:
    include(cast)
    moe = client_for(cast.moe)
    page = moe.get(f"{BASE}/subjects/01-001/")
    assert page.status_code == 200
    assert 'id="consent-form"' not in page.text
    snapshot = Snapshot()
    refused = moe.post(
        f"{BASE}/subjects/01-001/news/",
        {"news-news_on": "2025-06-12", "news-source": "phone call"},
    )
    assert refused.status_code == 403
    assert snapshot.unchanged()


def test_a_withdrawal_from_follow_up_withdraws_the_subject(cast: Cast) -> None:
    include(cast)
    alice = client_for(cast.alice)
    done = alice.post(
        f"{BASE}/subjects/01-001/withdrawals/",
        {"withdrawal-kind": "follow_up", "withdrawal-withdrawn_on": "2025-06-12"},
    )
    assert done.status_code == 302
    assert Subject.objects.get().study_status == "withdrawn"
    page = alice.get(done["Location"])
    assert "withdrawn" in page.text
    assert "from follow-up" in page.text


def test_a_visit_date_and_news_are_recorded_and_moved_to_the_header(cast: Cast) -> None:
    include(cast)
    alice = client_for(cast.alice)
    visit = alice.post(
        f"{BASE}/subjects/01-001/visits/",
        {"visit-event": "baseline", "visit-visit_on": "2025-06-02"},
    )
    assert visit.status_code == 302
    news = alice.post(
        f"{BASE}/subjects/01-001/news/",
        {"news-news_on": "2025-06-13", "news-source": "letter from the GP"},
    )
    assert news.status_code == 302
    page = alice.get(f"{BASE}/subjects/01-001/")
    assert page.context["schedule"][0]["status"] == "done"
    assert Subject.objects.get().last_news_on == date(2025, 6, 13)
    again = alice.post(
        f"{BASE}/subjects/01-001/visits/",
        {"visit-event": "baseline", "visit-visit_on": "2025-06-03"},
    )
    assert again.status_code == 400
    assert "takes place once" in " ".join(again.context["forms"]["visit"].errors["occurrence"])


def test_status_changes_follow_the_state_machine_and_refusals_are_located(cast: Cast) -> None:
    include(cast)
    alice = client_for(cast.alice)
    on = alice.post(
        f"{BASE}/subjects/01-001/treatment-status/",
        {"treatment-status-status": "on_treatment", "treatment-status-on": "2025-06-03"},
    )
    assert on.status_code == 302
    snapshot = Snapshot()
    # Completing while on treatment is refused by the service, with its reason.
    refused = alice.post(
        f"{BASE}/subjects/01-001/study-status/",
        {"study-status-status": "completed", "study-status-on": "2025-06-10"},
    )
    assert refused.status_code == 400
    assert "still on treatment" in " ".join(
        refused.context["forms"]["study_status"].errors["status"]
    )
    # Stopping treatment needs a reason.
    no_reason = alice.post(
        f"{BASE}/subjects/01-001/treatment-status/",
        {"treatment-status-status": "off_treatment", "treatment-status-on": "2025-06-10"},
    )
    assert no_reason.status_code == 400
    assert "say why" in " ".join(no_reason.context["forms"]["treatment_status"].errors["reason"])
    assert snapshot.unchanged()


def test_only_the_data_manager_may_transfer(cast: Cast) -> None:
    include(cast)
    assert 'id="transfer-form"' not in client_for(cast.alice).get(f"{BASE}/subjects/01-001/").text
    dana = client_for(cast.dana, second_factor=True)
    assert 'id="transfer-form"' in dana.get(f"{BASE}/subjects/01-001/").text
    done = dana.post(
        f"{BASE}/subjects/01-001/transfer/",
        {
            "transfer-site": "02",
            "transfer-on": "2025-06-12",
            "transfer-reason": "moved to Marseille",
        },
    )
    assert done.status_code == 302
    assert Subject.objects.get().site == cast.site_b


# --- identity -------------------------------------------------------------------------------


def test_the_identity_is_only_for_the_subjects_site_and_only_with_the_vault(
    cast: Cast,
) -> None:
    include(cast)
    alice = client_for(cast.alice)
    url = f"{BASE}/subjects/01-001/identity/"
    assert alice.get(url).status_code == 404  # no vault: nothing to show
    subject_settings_set(
        actor=ADMIN, study=cast.study, central_eligibility_review=False, identity_vault=True
    )
    assert "/identity/" in alice.get(f"{BASE}/subjects/01-001/").text
    saved = alice.post(url, {"last_name": "Dupont", "birth_date": "1964-03-02"})
    assert saved.status_code == 302
    page = alice.get(url)
    assert "Dupont" in page.text
    assert AuditEvent.objects.filter(action="subject.identity_viewed").count() == 1
    assert client_for(cast.moe).get(url).status_code == 404
    assert client_for(cast.dana, second_factor=True).get(url).status_code == 404
    refused = alice.post(url, {"birth_date": "2030-01-01"})
    assert refused.status_code == 400
    assert "is in the future" in " ".join(refused.context["form"].errors["birth_date"])


# --- screening log, overdue visits, follow-up campaign --------------------------------------


def screening(**changes: Any) -> dict[str, Any]:
    data = {
        "site": "01",
        "screened_on": "2025-06-12",
        "age": "70",
        "sex": "M",
        "reason_not_included": "ECOG 3",
        "screening_number": "S-20",
    }
    data.update(changes)
    return data


def test_a_screened_patient_is_logged_and_bad_lines_are_refused(cast: Cast) -> None:
    alice = client_for(cast.alice)
    url = f"{BASE}/screening-log/"
    snapshot = Snapshot()
    for changes, field, words in [
        ({"age": "200"}, "age", "130"),
        ({"reason_not_included": "  "}, "reason_not_included", "required"),
        ({"screened_on": "2025-06-20"}, "screened_on", "is in the future"),
    ]:
        refused = alice.post(url, screening(**changes))
        assert refused.status_code == 400
        assert words in " ".join(refused.context["form"].errors[field]), changes
    assert snapshot.unchanged()
    assert alice.post(url, screening()).status_code == 302
    page = alice.get(url)
    assert "ECOG 3" in page.text
    duplicate = alice.post(url, screening())
    assert "already used" in " ".join(duplicate.context["form"].errors["screening_number"])
    # A monitor reads the log but has no form, and a post of theirs writes nothing.
    moe = client_for(cast.moe)
    assert "ECOG 3" in moe.get(url).text
    assert 'id="screening-form"' not in moe.get(url).text
    assert moe.post(url, screening(screening_number="S-21")).status_code == 404
    assert ScreeningEntry.objects.count() == 1


def test_the_overdue_page_lists_visits_whose_window_has_passed(cast: Cast) -> None:
    include(cast, on=date(2025, 6, 16))
    alice = client_for(cast.alice)
    assert "No visit is overdue." in alice.get(f"{BASE}/overdue/").text
    # Cycle 1 is due on 30 June (window 28 June to 3 July).
    with time_machine.travel(datetime(2025, 7, 5, 10, 0, tzinfo=UTC), tick=False):
        alice.force_login(cast.alice)  # the session of 16 June has expired by then
        page = alice.get(f"{BASE}/overdue/")
    site, rows = page.context["groups"][0]
    assert site == cast.site_a
    assert [(r["subject"].identifier, r["visit"]["event"], r["days"]) for r in rows] == [
        ("01-001", "Cycle", 2)
    ]


def test_the_follow_up_campaign_lists_subjects_without_recent_news(cast: Cast) -> None:
    include(cast)
    alice = client_for(cast.alice)
    url = f"{BASE}/follow-up-campaign/"
    soon = alice.get(url, {"months": "1", "on": "2025-06-16", "site": ""})
    assert soon.context["groups"] == []
    later = alice.get(url, {"months": "6", "on": "2025-12-31", "site": "01"})
    assert [r["subject"].identifier for _site, rows in later.context["groups"] for r in rows] == [
        "01-001"
    ]
    refused = alice.get(url, {"months": "0", "on": "2025-12-31"})
    assert refused.status_code == 400
    assert "1" in " ".join(refused.context["form"].errors["months"])


def test_a_check_with_a_bad_value_says_so_in_the_result_panel(cast: Cast) -> None:
    page = client_for(cast.alice).post(
        f"{BASE}/subjects/new/",
        wizard(item_weight="heavy", step="check"),
        headers={"HX-Request": "true"},
    )
    assert page.status_code == 200  # htmx swaps only successful answers
    assert "Weight (kg): Enter a number." in page.text


def test_the_medical_reviewer_approves_a_pending_subject_with_a_document(cast: Cast) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    subject_settings_set(
        actor=ADMIN, study=cast.study, central_eligibility_review=True, identity_vault=False
    )
    include(cast)
    url = f"{BASE}/subjects/01-001/"
    alice, mira = client_for(cast.alice), client_for(cast.mira)
    assert "review-form" not in alice.get(url).text  # an investigator does not review
    assert "review-form" in mira.get(url).text
    refused = alice.post(
        url + "eligibility-review/", {"review-decision": "approve", "review-comment": "ok"}
    )
    assert refused.status_code == 403
    disguised = SimpleUploadedFile("report.pdf", b"MZ not a pdf", content_type="application/pdf")
    bad = mira.post(
        url + "eligibility-review/",
        {
            "review-decision": "approve",
            "review-comment": "criteria checked",
            "review-document": disguised,
        },
    )
    assert bad.status_code == 400
    assert "is not a PDF, PNG or JPEG file" in bad.text
    assert Subject.objects.get().eligibility_review == "pending"
    report = SimpleUploadedFile(
        "report.pdf", b"%PDF-1.4 anonymised report", content_type="application/pdf"
    )
    approved = mira.post(
        url + "eligibility-review/",
        {
            "review-decision": "approve",
            "review-comment": "criteria checked",
            "review-document": report,
        },
    )
    assert approved.status_code == 302
    assert Subject.objects.get().eligibility_review == "approved"
    assert "review-form" not in mira.get(url).text


# --- refusals in the person's language ------------------------------------------------------


def api_of(cast: Cast, user: Any, *, accept_language: str = "") -> Client:
    """Return an API client with a personal token of ``user``, as scripts call the API."""
    _token, key = token_create(actor=ADMIN, user=user, study=cast.study)
    headers = {"authorization": f"Bearer {key}"}
    if accept_language:
        headers["accept-language"] = accept_language
    return Client(headers=headers)


def test_a_french_speaking_investigator_reads_the_refusals_in_french_and_the_api_in_english(
    cast: Cast,
) -> None:
    on_treatment = include(cast)  # 01-001, included on 2 June
    subject_change_treatment(
        actor=cast.alice, subject=on_treatment, status="on_treatment", on=date(2025, 6, 3)
    )
    completed = include(cast)  # 01-002
    subject_change_status(
        actor=cast.alice, subject=completed, status="completed", on=date(2025, 6, 10)
    )
    alice = client_for(cast.alice)
    alice.post("/language/", {"language": "fr", "next": "/"})  # remembered in the account
    api = api_of(cast, cast.alice)
    french_api = api_of(cast, cast.alice, accept_language="fr-FR,fr;q=0.9")
    snapshot = Snapshot()

    def api_post(client: Client, path: str, payload: dict[str, Any]) -> Any:
        return client.post(f"/api/studies/MINI/{path}", payload, content_type="application/json")

    # A visit dated in the future, next to the visit date.
    future = alice.post(
        f"{BASE}/subjects/01-001/visits/",
        {"visit-event": "baseline", "visit-visit_on": "2025-12-01"},
    )
    assert future.status_code == 400
    french = "la date 2025-12-01 est dans le futur (nous sommes le 2025-06-16 au centre 01)."
    assert future.context["forms"]["visit"].errors["visit_on"] == [french]
    assert french in entities.unescape(future.text)
    refused = api_post(
        api, "subjects/01-001/visits", {"event": "baseline", "visit_on": "2025-12-01"}
    )
    assert refused.status_code == 400
    assert refused.json()["detail"] == (
        "visit_on: 2025-12-01 is in the future (today is 2025-06-16 at site 01)."
    )

    # Completing a subject still on treatment, next to the new status.
    still = alice.post(
        f"{BASE}/subjects/01-001/study-status/",
        {"study-status-status": "completed", "study-status-on": "2025-06-12"},
    )
    assert still.status_code == 400
    french = (
        "le patient est encore sous traitement ; enregistrez d'abord la date et le motif "
        "d'arrêt du traitement."
    )
    assert still.context["forms"]["study_status"].errors["status"] == [french]
    assert french in entities.unescape(still.text)
    refused = api_post(
        api, "subjects/01-001/study-status", {"status": "completed", "on": "2025-06-12"}
    )
    assert refused.json()["detail"] == (
        "status: the subject is still on treatment; record when and why treatment stopped first."
    )

    # Withdrawing a completed subject from follow-up: the state machine names both statuses.
    terminal = alice.post(
        f"{BASE}/subjects/01-002/withdrawals/",
        {"withdrawal-kind": "follow_up", "withdrawal-withdrawn_on": "2025-06-12"},
    )
    assert terminal.status_code == 400
    assert (
        "impossible de passer de « terminé » à « retiré » : le patient a terminé l'étude."
    ) in entities.unescape(terminal.text)
    refused = api_post(
        api, "subjects/01-002/withdrawals", {"kind": "follow_up", "withdrawn_on": "2025-06-12"}
    )
    assert refused.json()["detail"] == (
        "status: cannot move from completed to withdrawn: the subject has completed the study."
    )

    # The registration wizard: a consent after inclusion, then a failed exclusion criterion.
    late = alice.post(f"{BASE}/subjects/new/", wizard(consented_on="2025-06-11"))
    assert late.status_code == 400
    assert late.context["form"].errors["consented_on"] == [
        "le consentement (2025-06-11) doit précéder l'inclusion (2025-06-10)."
    ]
    smoker = alice.post(f"{BASE}/subjects/new/", wizard(item_packs="75"))
    assert smoker.status_code == 400
    shown = entities.unescape(smoker.text)
    assert "Non inclus : le patient n'est pas éligible." in shown
    assert "Plus de 60 paquets-années" in shown
    assert "le critère de non-inclusion s'applique" in shown
    inclusion = {
        "site": "01",
        "included_on": "2025-06-10",
        "consent": {"form_version": "v1.0", "consented_on": "2025-06-09"},
        "eligibility": {"weight": 72.5, "packs": 75},
    }
    refused = api_post(api, "subjects", inclusion)
    assert refused.status_code == 400
    assert refused.json()["detail"] == (
        "eligibility: the patient is not eligible: heavy_smoker (Over 60 pack-years): "
        "the exclusion criterion applies."
    )
    # …unless the client asks for French.
    refused = api_post(french_api, "subjects", inclusion)
    assert refused.json()["detail"] == (
        "eligibility: le patient n'est pas éligible : heavy_smoker (Plus de 60 paquets-années) : "
        "le critère de non-inclusion s'applique."
    )
    assert snapshot.unchanged()
