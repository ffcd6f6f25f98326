"""Study status and treatment status: two state machines, kept apart; transfers between sites."""

from __future__ import annotations

from datetime import date

import pytest

from carnet.accounts.permissions import PermissionDenied
from carnet.core.errors import ValidationError
from carnet.subjects.models import StatusChange, Subject
from carnet.subjects.selectors import subjects_visible
from carnet.subjects.services import (
    eligibility_review_decide,
    subject_change_status,
    subject_change_treatment,
    subject_settings_set,
    subject_transfer,
    visit_record,
)
from carnet.subjects.statuses import (
    STUDY_MOVES,
    TERMINAL,
    StudyStatus,
    TreatmentStatus,
    check_study_move,
)
from tests.subjects.conftest import Cast, Snapshot, include

PDF = b"%PDF-1.4 anonymised eligibility file"


def test_every_status_but_the_terminal_ones_has_moves_and_terminal_ones_have_none() -> None:
    assert set(STUDY_MOVES) | TERMINAL == set(StudyStatus.values)
    assert not set(STUDY_MOVES) & TERMINAL


@pytest.mark.parametrize(
    ("old", "new", "reason"),
    [
        (
            "completed",
            "in_follow_up",
            "cannot move from completed to in follow-up: the subject has completed the study",
        ),
        ("deceased", "included", "the subject is deceased"),
        (
            "included",
            "screened",
            "from included only to: completed, deceased, in follow-up, "
            "lost to follow-up, withdrawn",
        ),
        ("in_follow_up", "in_follow_up", "the subject is already in follow-up"),
        ("included", "cured", "'cured' is not a study status"),
    ],
)
def test_an_illegal_study_status_move_is_refused_with_the_reason(
    old: str, new: str, reason: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        check_study_move(old, new)
    assert reason in str(refused.value)


def test_stopping_treatment_puts_the_subject_in_follow_up_not_out_of_the_study(
    cast: Cast,
) -> None:
    subject = include(cast)
    subject_change_treatment(
        actor=cast.alice, subject=subject, status="on_treatment", on=date(2025, 6, 3)
    )
    subject = subject_change_treatment(
        actor=cast.alice,
        subject=subject,
        status="off_treatment",
        on=date(2025, 6, 10),
        reason="toxicity",
    )
    assert subject.treatment_status == TreatmentStatus.OFF_TREATMENT
    assert subject.off_treatment_reason == "toxicity"
    assert subject.study_status == StudyStatus.IN_FOLLOW_UP
    assert subject.last_news_on == date(2025, 6, 10)
    history = list(StatusChange.objects.filter(subject=subject).values_list("track", "new"))
    assert history == [
        ("study", "included"),
        ("treatment", "on_treatment"),
        ("treatment", "off_treatment"),
        ("study", "in_follow_up"),
    ]


def test_stopping_treatment_needs_a_reason_and_a_stopped_treatment_does_not_restart(
    cast: Cast,
) -> None:
    subject = include(cast)
    subject_change_treatment(
        actor=cast.alice, subject=subject, status="on_treatment", on=date(2025, 6, 3)
    )
    snapshot = Snapshot()
    with pytest.raises(ValidationError, match="off_treatment_reason: say why"):
        subject_change_treatment(
            actor=cast.alice, subject=subject, status="off_treatment", on=date(2025, 6, 4)
        )
    assert snapshot.unchanged()
    subject_change_treatment(
        actor=cast.alice,
        subject=subject,
        status="off_treatment",
        on=date(2025, 6, 4),
        reason="progression",
    )
    with pytest.raises(ValidationError, match="does not restart"):
        subject_change_treatment(
            actor=cast.alice, subject=subject, status="on_treatment", on=date(2025, 6, 5)
        )


def test_leaving_the_study_while_on_treatment_is_refused_but_death_ends_treatment(
    cast: Cast,
) -> None:
    subject = include(cast)
    subject_change_treatment(
        actor=cast.alice, subject=subject, status="on_treatment", on=date(2025, 6, 3)
    )
    snapshot = Snapshot()
    with pytest.raises(ValidationError, match="still on treatment"):
        subject_change_status(
            actor=cast.alice, subject=subject, status="withdrawn", on=date(2025, 6, 5), reason="x"
        )
    assert snapshot.unchanged()
    subject = subject_change_status(
        actor=cast.alice, subject=subject, status="deceased", on=date(2025, 6, 12)
    )
    assert (subject.study_status, subject.treatment_status, subject.off_treatment_reason) == (
        "deceased",
        "off_treatment",
        "death",
    )
    assert subject.last_news_on == date(2025, 6, 12)


def test_status_dates_in_the_future_or_before_the_last_change_are_refused(cast: Cast) -> None:
    subject = include(cast, on=date(2025, 6, 2))
    snapshot = Snapshot()
    with pytest.raises(ValidationError, match="on: 2025-06-20 is in the future"):
        subject_change_status(
            actor=cast.alice,
            subject=subject,
            status="lost_to_follow_up",
            on=date(2025, 6, 20),
            reason="no answer",
        )
    with pytest.raises(ValidationError, match=r"on: 2025-06-01 is before inclusion \(2025-06-02\)"):
        subject_change_status(
            actor=cast.alice, subject=subject, status="completed", on=date(2025, 6, 1)
        )
    with pytest.raises(ValidationError, match="reason: say why the subject is lost to follow up"):
        subject_change_status(
            actor=cast.alice, subject=subject, status="lost_to_follow_up", on=date(2025, 6, 5)
        )
    assert snapshot.unchanged()


def test_a_lost_subject_does_not_bring_the_date_of_last_news_forward(cast: Cast) -> None:
    subject = include(cast, on=date(2025, 6, 2))
    subject = subject_change_status(
        actor=cast.alice,
        subject=subject,
        status="lost_to_follow_up",
        on=date(2025, 6, 15),
        reason="no answer",
    )
    assert subject.last_news_on == date(2025, 6, 2)


def test_a_monitor_cannot_change_a_status(cast: Cast) -> None:
    subject = include(cast)
    with pytest.raises(PermissionDenied):
        subject_change_status(
            actor=cast.moe, subject=subject, status="completed", on=date(2025, 6, 5)
        )


def test_with_central_review_the_subject_waits_screened_until_the_reviewer_approves(
    cast: Cast,
    settings,
    tmp_path,  # type: ignore[no-untyped-def]
) -> None:
    settings.MEDIA_ROOT = tmp_path
    subject_settings_set(
        actor=cast.dana, study=cast.study, central_eligibility_review=True, identity_vault=False
    )
    subject = include(cast)
    assert (subject.identifier, subject.study_status, subject.eligibility_review) == (
        "01-001",
        "screened",
        "pending",
    )
    with pytest.raises(ValidationError, match="central eligibility review has not approved"):
        visit_record(actor=cast.alice, subject=subject, event="baseline", visit_on=date(2025, 6, 2))
    with pytest.raises(ValidationError, match="decided by the central eligibility review"):
        subject_change_status(
            actor=cast.alice, subject=subject, status="included", on=date(2025, 6, 5)
        )
    with pytest.raises(PermissionDenied):
        eligibility_review_decide(actor=cast.alice, subject=subject, approved=True, comment="ok")
    snapshot = Snapshot()
    with pytest.raises(ValidationError, match="not a PDF, PNG or JPEG"):
        eligibility_review_decide(
            actor=cast.mira,
            subject=subject,
            approved=True,
            comment="ok",
            document_name="report.exe",
            document=b"MZ...",
        )
    assert snapshot.unchanged()
    review = eligibility_review_decide(
        actor=cast.mira,
        subject=subject,
        approved=True,
        comment="Histology confirmed",
        document_name="anapath.pdf",
        document=PDF,
    )
    subject.refresh_from_db()
    assert (subject.study_status, subject.eligibility_review) == ("included", "approved")
    assert (tmp_path / review.document_path).read_bytes() == PDF
    with pytest.raises(ValidationError, match="no eligibility review waiting"):
        eligibility_review_decide(actor=cast.mira, subject=subject, approved=False, comment="late")


def test_a_rejected_review_makes_a_screen_failure(cast: Cast) -> None:
    subject_settings_set(
        actor=cast.dana, study=cast.study, central_eligibility_review=True, identity_vault=False
    )
    subject = include(cast)
    eligibility_review_decide(
        actor=cast.mira, subject=subject, approved=False, comment="M1 disease"
    )
    subject.refresh_from_db()
    assert (subject.study_status, subject.eligibility_review) == ("screen_failure", "rejected")


def test_a_transferred_subject_keeps_its_identifier_and_moves_out_of_the_old_sites_view(
    cast: Cast,
) -> None:
    subject = include(cast)
    with pytest.raises(PermissionDenied):
        subject_transfer(
            actor=cast.alice,
            subject=subject,
            to_site=cast.site_b,
            on=date(2025, 6, 10),
            reason="moved",
        )
    subject = subject_transfer(
        actor=cast.dana,
        subject=subject,
        to_site=cast.site_b,
        on=date(2025, 6, 10),
        reason="moved to Marseille",
    )
    assert (subject.identifier, subject.site.code) == ("01-001", "02")
    assert not subjects_visible(cast.alice, study=cast.study).exists()
    assert list(subjects_visible(cast.bea, study=cast.study)) == [subject]
    assert Subject.objects.get(pk=subject.pk).last_news_on == date(2025, 6, 10)
    with pytest.raises(ValidationError, match="already at site 02"):
        subject_transfer(
            actor=cast.dana, subject=subject, to_site=cast.site_b, on=date(2025, 6, 11), reason="x"
        )
