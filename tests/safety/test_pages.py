"""The pages, through the browser's requests: the investigator signs the report the serious AE
opened, pharmacovigilance assesses it as a SUSAR, unblinds it (the arm shows to it alone) and
downloads the CIOMS-I and E2B files; the RSI page, the reconciliation and the line listing;
refusals shown in the reader's language."""

from __future__ import annotations

import csv
import io
from datetime import date

import pytest
from django.test import Client
from django.urls import reverse

from carnet.accounts.blinding import HIDDEN
from carnet.accounts.models import User
from carnet.randomization.models import Allocation
from carnet.randomization.services import subject_randomise
from carnet.safety.models import SaeReport
from carnet.safety.services import rsi_add
from tests.safety.conftest import TERM, Safety
from tests.web.helpers import PASSWORD, current_code, enrol

pytestmark = pytest.mark.django_db
MEANING = "I have reviewed this report."


def _client(user: User) -> tuple[Client, str]:
    """Return a signed-in client and a way to sign: the TOTP code when the role needs one."""
    client = Client()
    client.post("/login/", {"username": user.username, "password": PASSWORD})
    code = ""
    if client.get("/account/").status_code == 302:
        device, _codes = enrol(client)
        code = current_code(device)
    return client, code


def _report_url(report: SaeReport) -> str:
    return reverse("safety:report", args=["MINI", report.reference])


def test_the_whole_path_from_the_site_to_pharmacovigilance(safety: Safety) -> None:
    allocation = subject_randomise(actor=safety.nurse, subject=safety.subject)
    report = safety.serious_ae()
    rsi_add(
        actor=safety.vigilance,
        study=safety.world.study,
        version="IB v1",
        effective_from=date(2025, 6, 1),
        expected_terms=["Anaemia"],
    )
    investigator, code = _client(safety.investigator)
    page = investigator.get(_report_url(report)).content.decode()
    assert TERM in page
    assert "Paracetamol" in page  # from the casebook, not typed again
    answer = investigator.post(
        _report_url(report),
        {"action": "sign", "password": PASSWORD, "totp_code": code, "meaning": MEANING},
    )
    assert answer.status_code == 302, answer.content.decode()[:2000]
    assert report.versions.get(number=1).signature is not None

    vigilance, _code = _client(safety.vigilance)
    answer = vigilance.post(_report_url(report), {"action": "assess", "causality": "1"})
    assert answer.status_code == 400
    assert "never downgrade" in answer.content.decode()
    assert (
        vigilance.post(_report_url(report), {"action": "assess", "causality": "4"}).status_code
        == 302
    )
    report.refresh_from_db()
    assert report.susar
    assert (
        vigilance.post(
            _report_url(report), {"action": "unblind", "reason": "expedited report"}
        ).status_code
        == 302
    )
    arm = Allocation.objects.get(pk=allocation.pk).arm
    assert f'id="sae-arm">{arm}<' in vigilance.get(_report_url(report)).content.decode()
    page = investigator.get(_report_url(report)).content.decode()
    assert f'id="sae-arm">{HIDDEN}<' in page
    assert "icsr-1.xml" not in page  # E2B is pharmacovigilance's

    xml = vigilance.get(reverse("safety:e2b", args=["MINI", report.reference, 1]))
    assert xml.status_code == 200
    assert TERM.encode() in xml.content
    assert (
        investigator.get(reverse("safety:e2b", args=["MINI", report.reference, 1])).status_code
        == 404
    )
    pdf = vigilance.get(reverse("safety:cioms", args=["MINI", report.reference, 1]))
    assert pdf.status_code in {200, 503}  # 503 only where the system lacks Pango

    dashboard = vigilance.get(reverse("safety:dashboard", args=["MINI"])).content.decode()
    assert report.reference in dashboard
    listing = vigilance.get(
        reverse("safety:listing", args=["MINI"]), {"start": "2020-01-01", "end": "2099-12-31"}
    )
    [row] = list(csv.DictReader(io.StringIO(listing.content.decode())))
    assert row["susar"] == "yes"


def test_the_rsi_page_adds_a_version_and_refuses_in_french(safety: Safety) -> None:
    safety.vigilance.language = "fr"
    safety.vigilance.save(update_fields=["language"])
    vigilance, _code = _client(safety.vigilance)
    url = reverse("safety:rsi", args=["MINI"])
    data = {"version": "IB v3", "effective_from": "2026-01-01", "expected_terms": "Nausea\nRash"}
    assert vigilance.post(url, data).status_code == 302
    assert "Nausea, Rash" in vigilance.get(url).content.decode()
    answer = vigilance.post(url, data)
    assert answer.status_code == 400
    assert "Cette version de l'information de référence sur la sécurité existe déjà." in (
        answer.content.decode().replace("&#x27;", "'")
    )


def test_the_reconciliation_page_turns_a_difference_into_a_query(safety: Safety) -> None:
    report = safety.serious_ae()
    investigator, code = _client(safety.investigator)
    investigator.post(
        _report_url(report),
        {"action": "sign", "password": PASSWORD, "totp_code": code, "meaning": MEANING},
    )
    safety.save_ae(report.form_instance.version, ae_term="Neutropenic sepsis")
    manager, _code = _client(safety.data_manager)
    url = reverse("safety:reconciliation", args=["MINI"])
    page = manager.get(url).content.decode()
    assert "Neutropenic sepsis" in page
    answer = manager.post(
        url,
        {
            "action": "query",
            "reference": report.reference,
            "field": "term",
            "safety_value": TERM,
            "clinical_value": "Neutropenic sepsis",
            "text": "Which term is right?",
        },
    )
    assert answer.status_code == 302
    assert "query raised" in manager.get(url).content.decode()


def test_the_pages_speak_french_to_a_french_reader(safety: Safety) -> None:
    report = safety.serious_ae()
    safety.investigator.language = "fr"
    safety.investigator.save(update_fields=["language"])
    investigator, _code = _client(safety.investigator)
    page = investigator.get(_report_url(report)).content.decode()
    for french in ("Déclaration d'EIG", "Données du cahier d'observation", "Signer et envoyer"):
        assert french in page.replace("&#x27;", "'"), french
    for english in ("Casebook data", "Sign and send", "Concomitant treatments", "Onset"):
        assert english not in page, english
    dashboard = investigator.get(reverse("safety:dashboard", args=["MINI"])).content.decode()
    assert "Réconciliation avec les données cliniques" in dashboard
    assert "Site report (24 hours)" not in dashboard
