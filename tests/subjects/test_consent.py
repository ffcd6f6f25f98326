"""Consent: versions, optional consents, and the three kinds of withdrawal with their effects."""

from __future__ import annotations

from datetime import date

import pytest

from carnet.core.errors import ValidationError
from carnet.subjects.services import (
    consent_record,
    consent_withdraw,
    news_record,
    subject_change_treatment,
    visit_record,
)
from tests.subjects.conftest import Cast, Snapshot, include


def test_a_new_consent_version_is_recorded_with_its_optional_consents(cast: Cast) -> None:
    subject = include(cast, on=date(2025, 6, 2))
    consent = consent_record(
        actor=cast.alice,
        subject=subject,
        form_version="v2.0",
        consented_on=date(2025, 6, 12),
        biobank=True,
        future_research=False,
    )
    assert (consent.form_version, consent.biobank, consent.future_research) == ("v2.0", True, False)
    subject.refresh_from_db()
    assert subject.last_news_on == date(2025, 6, 12)
    with pytest.raises(ValidationError, match="before the latest consent"):
        consent_record(
            actor=cast.alice, subject=subject, form_version="v2.1", consented_on=date(2025, 6, 5)
        )


def test_a_visit_before_consent_is_refused(cast: Cast) -> None:
    subject = include(cast, on=date(2025, 6, 5), consented_on=date(2025, 6, 4))
    snapshot = Snapshot()
    with pytest.raises(
        ValidationError,
        match=r"visit_on: 2025-06-01 is before the subject's consent \(2025-06-04\)",
    ):
        visit_record(actor=cast.alice, subject=subject, event="baseline", visit_on=date(2025, 6, 1))
    assert snapshot.unchanged()


def test_withdrawing_from_treatment_stops_treatment_and_follow_up_goes_on(cast: Cast) -> None:
    subject = include(cast, on=date(2025, 6, 2))
    subject_change_treatment(
        actor=cast.alice, subject=subject, status="on_treatment", on=date(2025, 6, 3)
    )
    consent_withdraw(
        actor=cast.alice, subject=subject, kind="treatment", withdrawn_on=date(2025, 6, 9)
    )
    subject.refresh_from_db()
    assert (subject.study_status, subject.treatment_status, subject.off_treatment_reason) == (
        "in_follow_up",
        "off_treatment",
        "consent_withdrawn",
    )
    visit = visit_record(
        actor=cast.alice, subject=subject, event="baseline", visit_on=date(2025, 6, 14)
    )
    assert visit.visit_on == date(2025, 6, 14)


def test_withdrawing_from_follow_up_allows_only_data_dated_up_to_that_day(cast: Cast) -> None:
    subject = include(cast, on=date(2025, 6, 2))
    consent_withdraw(
        actor=cast.alice,
        subject=subject,
        kind="follow_up",
        withdrawn_on=date(2025, 6, 10),
        reason="moving abroad",
    )
    subject.refresh_from_db()
    assert subject.study_status == "withdrawn"
    visit_record(actor=cast.alice, subject=subject, event="baseline", visit_on=date(2025, 6, 9))
    snapshot = Snapshot()
    with pytest.raises(ValidationError, match="withdrew from follow-up on 2025-06-10"):
        news_record(actor=cast.alice, subject=subject, news_on=date(2025, 6, 12), source="phone")
    assert snapshot.unchanged()


def test_an_objection_to_data_use_stops_all_entry(cast: Cast) -> None:
    subject = include(cast, on=date(2025, 6, 2))
    consent_withdraw(
        actor=cast.alice, subject=subject, kind="data_use", withdrawn_on=date(2025, 6, 10)
    )
    subject.refresh_from_db()
    assert subject.study_status == "withdrawn"
    snapshot = Snapshot()
    with pytest.raises(ValidationError, match="objected to further use of their data"):
        visit_record(actor=cast.alice, subject=subject, event="baseline", visit_on=date(2025, 6, 3))
    with pytest.raises(ValidationError, match="objected"):
        consent_record(
            actor=cast.alice, subject=subject, form_version="v2", consented_on=date(2025, 6, 12)
        )
    with pytest.raises(ValidationError, match="already objected"):
        consent_withdraw(
            actor=cast.alice, subject=subject, kind="follow_up", withdrawn_on=date(2025, 6, 12)
        )
    assert snapshot.unchanged()


def test_a_withdrawal_in_the_future_or_before_inclusion_is_refused(cast: Cast) -> None:
    subject = include(cast, on=date(2025, 6, 2))
    snapshot = Snapshot()
    with pytest.raises(ValidationError, match="withdrawn_on: 2025-06-30 is in the future"):
        consent_withdraw(
            actor=cast.alice, subject=subject, kind="follow_up", withdrawn_on=date(2025, 6, 30)
        )
    with pytest.raises(ValidationError, match="before inclusion"):
        consent_withdraw(
            actor=cast.alice, subject=subject, kind="follow_up", withdrawn_on=date(2025, 5, 30)
        )
    with pytest.raises(ValidationError, match="kind: 'all' is not one of"):
        consent_withdraw(
            actor=cast.alice, subject=subject, kind="all", withdrawn_on=date(2025, 6, 3)
        )
    assert snapshot.unchanged()
