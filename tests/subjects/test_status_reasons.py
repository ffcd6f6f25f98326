"""The reasons of a subject's status history: Carnet's own are stored as codes and read in the
reader's language, older rows written in English included; a person's are kept as typed."""

from __future__ import annotations

from datetime import date

import pytest
from django.utils import translation

from carnet.subjects.models import StatusChange
from carnet.subjects.services import consent_withdraw, subject_change_treatment
from carnet.subjects.statuses import StatusReason, status_reason_text
from tests.subjects.conftest import Cast, include


def test_stopping_treatment_and_withdrawing_store_carnets_reasons_as_codes(cast: Cast) -> None:
    stopped = include(cast)
    subject_change_treatment(
        actor=cast.alice, subject=stopped, status="on_treatment", on=date(2025, 6, 3)
    )
    subject_change_treatment(
        actor=cast.alice,
        subject=stopped,
        status="off_treatment",
        on=date(2025, 6, 10),
        reason="toxicity",
    )
    withdrawn = include(cast)
    consent_withdraw(
        actor=cast.alice, subject=withdrawn, kind="follow_up", withdrawn_on=date(2025, 6, 12)
    )
    reasons = {
        (change.subject_id, change.track, change.new): change.reason
        for change in StatusChange.objects.all()
    }
    assert reasons[(stopped.pk, "treatment", "off_treatment")] == "toxicity"
    assert reasons[(stopped.pk, "study", "in_follow_up")] == "treatment_stopped"
    assert reasons[(withdrawn.pk, "study", "withdrawn")] == "consent_withdrawn_follow_up"


@pytest.mark.parametrize(
    ("stored", "english", "french"),
    [
        ("treatment_stopped", "treatment stopped", "arrêt du traitement"),
        (
            "consent_withdrawn_follow_up",
            "consent withdrawn from follow-up",
            "retrait du consentement au suivi",
        ),
        ("toxicity", "unacceptable toxicity", "toxicité inacceptable"),
        # Rows written before the codes, in English.
        ("treatment stopped", "treatment stopped", "arrêt du traitement"),
        (
            "consent withdrawn (follow_up)",
            "consent withdrawn from follow-up",
            "retrait du consentement au suivi",
        ),
        (
            "consent withdrawn (data_use)",
            "objection to further use of data",
            "opposition à l'utilisation ultérieure des données",
        ),
        # What a person typed stays theirs.
        ("Moved abroad, no contact", "Moved abroad, no contact", "Moved abroad, no contact"),
        ("", "", ""),
    ],
)
def test_a_reason_reads_in_the_readers_language(stored: str, english: str, french: str) -> None:
    with translation.override("en"):
        assert status_reason_text(stored) == english
    with translation.override("fr"):
        assert status_reason_text(stored) == french


def test_each_kind_of_withdrawal_has_its_reason() -> None:
    assert {
        StatusReason.of_withdrawal(kind) for kind in ("treatment", "follow_up", "data_use")
    } == {
        StatusReason.CONSENT_WITHDRAWN_TREATMENT,
        StatusReason.CONSENT_WITHDRAWN_FOLLOW_UP,
        StatusReason.CONSENT_WITHDRAWN_DATA_USE,
    }
