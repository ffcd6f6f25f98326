"""Protocol deviations: derived once from the study's deviation checks, resolved (never
deleted) when the check clears, declared by people, reviewed by the data manager, audited, seen
only where one may see the subject, and the per-protocol population they define."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from carnet.accounts.permissions import PermissionDenied
from carnet.accounts.roles import Role
from carnet.audit.models import AuditEvent
from carnet.quality.deviation_models import Deviation
from carnet.quality.deviation_selectors import (
    deviation_list,
    per_protocol_count,
    per_protocol_population,
)
from carnet.quality.deviations import DeviationRefused, deviation_declare, deviation_review
from carnet.randomization.services import subject_randomise
from tests.accounts.personas import person
from tests.quality.deviation_world import DeviationWorld, deviation_world

pytestmark = pytest.mark.django_db


@pytest.fixture
def dw(tmp_path: Path) -> DeviationWorld:
    return deviation_world(tmp_path)


def test_a_deviation_check_that_fires_records_one_deviation_however_often_it_is_saved(
    dw: DeviationWorld,
) -> None:
    subject = dw.include()
    first = dw.vitals(subject, 0, sbp=80, dbp=90, weight=70, smoker=0)
    dw.vitals(subject, first.form_instance.version, sbp=81)
    (deviation,) = Deviation.objects.all()
    assert (deviation.origin, deviation.check_name, deviation.subject) == (
        "derived",
        "bp_order",
        subject,
    )
    assert (deviation.deviation_class, deviation.category, deviation.status) == (
        "major",
        "visit_window",
        "pending",
    )
    assert deviation.form_instance == first.form_instance
    assert deviation.description == "SBP must exceed DBP"
    assert deviation.description_fr == "La PAS doit dépasser la PAD"
    assert AuditEvent.objects.filter(action="deviation.derived").count() == 1


def test_a_cleared_check_resolves_its_deviation_which_is_kept_and_reopens_when_it_fires_again(
    dw: DeviationWorld,
) -> None:
    subject = dw.include()
    first = dw.vitals(subject, 0, sbp=80, dbp=90)
    second = dw.vitals(subject, first.form_instance.version, sbp=130)
    deviation = Deviation.objects.get()
    assert deviation.resolved
    assert deviation.resolved_at is not None
    resolved = AuditEvent.objects.get(action="deviation.resolved")
    assert (resolved.old["resolved"], resolved.new["resolved"]) == (False, True)
    assert resolved.reason == "corrected from source"
    dw.vitals(subject, second.form_instance.version, sbp=70)
    deviation.refresh_from_db()
    assert not deviation.resolved
    assert Deviation.objects.count() == 1
    assert AuditEvent.objects.filter(action="deviation.reopened").count() == 1


def test_a_save_without_the_check_firing_records_nothing(dw: DeviationWorld) -> None:
    subject = dw.include()
    dw.vitals(subject, 0, sbp=130, dbp=80)
    assert not Deviation.objects.exists()


def test_a_site_declares_a_deviation_and_the_data_manager_confirms_it_audited(
    dw: DeviationWorld,
) -> None:
    subject = dw.include()
    deviation = deviation_declare(
        actor=dw.nurse,
        subject=subject,
        description="Dose given 2 days early",
        occurred_on=date(2026, 1, 20),
        deviation_class="minor",
        category="dosing",
    )
    declared = AuditEvent.objects.get(action="deviation.declared")
    assert declared.actor_id == dw.nurse.pk
    assert declared.new["description"] == "Dose given 2 days early"
    deviation_review(
        actor=dw.data_manager,
        deviation=deviation,
        decision="confirmed",
        deviation_class="major",
        reason="The dose preceded the safety labs",
    )
    deviation.refresh_from_db()
    assert (deviation.status, deviation.deviation_class, deviation.reviewed_by) == (
        "confirmed",
        "major",
        "dora",
    )
    reviewed = AuditEvent.objects.get(action="deviation.reviewed")
    assert (reviewed.old["class"], reviewed.new["class"]) == ("minor", "major")
    assert (reviewed.old["status"], reviewed.new["status"]) == ("pending", "confirmed")
    assert (reviewed.actor_id, reviewed.reason) == (
        dw.data_manager.pk,
        "The dose preceded the safety labs",
    )


def test_a_rejection_needs_a_reason_and_only_the_data_manager_reviews(
    dw: DeviationWorld,
) -> None:
    subject = dw.include()
    dw.vitals(subject, 0, sbp=80, dbp=90)
    deviation = Deviation.objects.get()
    with pytest.raises(DeviationRefused) as refused:
        deviation_review(actor=dw.data_manager, deviation=deviation, decision="rejected")
    assert str(refused.value) == "reason: Say why the deviation is rejected."
    with pytest.raises(PermissionDenied):
        deviation_review(actor=dw.nurse, deviation=deviation, decision="rejected", reason="not one")
    deviation_review(
        actor=dw.data_manager,
        deviation=deviation,
        decision="rejected",
        reason="Transcription error",
    )
    deviation.refresh_from_db()
    assert (deviation.status, deviation.review_reason) == ("rejected", "Transcription error")
    assert not AuditEvent.objects.filter(action="deviation.reviewed", reason="").exists()


@pytest.mark.parametrize(
    ("field", "changes", "message"),
    [
        ("description", {"description": "  "}, "Describe the deviation."),
        (
            "deviation_class",
            {"deviation_class": "critical"},
            "'critical' is not a deviation class (major or minor).",
        ),
        (
            "occurred_on",
            {"occurred_on": date(2999, 1, 1)},
            "2999-01-01 is in the future",
        ),
    ],
)
def test_a_declaration_is_refused_with_the_field_named(
    dw: DeviationWorld, field: str, changes: dict[str, object], message: str
) -> None:
    subject = dw.include()
    sent: dict[str, object] = {
        "description": "Consent signed after the first procedure",
        "occurred_on": date(2026, 1, 5),
        "deviation_class": "major",
        "category": "consent",
        **changes,
    }
    with pytest.raises(DeviationRefused) as refused:
        deviation_declare(actor=dw.nurse, subject=subject, **sent)  # type: ignore[arg-type]
    assert refused.value.field == field
    assert str(refused.value).startswith(f"{field}: {message}")
    assert not Deviation.objects.exists()


def test_an_unknown_category_is_refused_naming_the_known_ones(dw: DeviationWorld) -> None:
    subject = dw.include()
    with pytest.raises(DeviationRefused) as refused:
        deviation_declare(
            actor=dw.nurse,
            subject=subject,
            description="x",
            occurred_on=date(2026, 1, 5),
            deviation_class="major",
            category="paperwork",
        )
    assert str(refused.value) == (
        "category: 'paperwork' is not a deviation category of this study (eligibility, consent, "
        "visit_window, dosing, prohibited_medication, assessment_missed, other)."
    )


def test_another_sites_monitor_and_staff_neither_see_nor_declare(dw: DeviationWorld) -> None:
    at_a = dw.include()
    at_b = dw.include(site="b")
    dw.vitals(at_a, 0, sbp=80, dbp=90)
    dw.vitals(at_b, 0, sbp=80, dbp=90)
    study = dw.world.study
    seen_by_b = deviation_list(dw.monitor_b, study=study)
    assert [row.deviation.subject.identifier for row in seen_by_b] == [at_b.identifier]
    assert seen_by_b.total == 1
    assert deviation_list(dw.data_manager, study=study).total == 2
    with pytest.raises(PermissionDenied):
        deviation_declare(
            actor=dw.monitor_b,
            subject=at_a,
            description="x",
            occurred_on=date(2026, 1, 5),
            deviation_class="minor",
            category="other",
        )


def test_the_register_filters_by_class_category_status_and_subject(dw: DeviationWorld) -> None:
    first, second = dw.include(), dw.include()
    dw.vitals(first, 0, sbp=80, dbp=90)
    deviation_declare(
        actor=dw.nurse,
        subject=second,
        description="Visit 3 days late",
        occurred_on=date(2026, 1, 9),
        deviation_class="minor",
        category="visit_window",
    )
    study = dw.world.study
    assert deviation_list(dw.data_manager, study=study, deviation_class="minor").total == 1
    assert deviation_list(dw.data_manager, study=study, subject=first.identifier).total == 1
    assert deviation_list(dw.data_manager, study=study, category="dosing").total == 0
    assert deviation_list(dw.data_manager, study=study, status="pending").total == 2
    page = deviation_list(dw.data_manager, study=study, per_page=1, page=2)
    assert (page.total, page.number, len(page.rows)) == (2, 2, 1)


def test_a_derived_message_is_in_the_readers_language(dw: DeviationWorld) -> None:
    from django.utils import translation

    subject = dw.include()
    dw.vitals(subject, 0, sbp=80, dbp=90)
    with translation.override("fr"):
        (row,) = deviation_list(dw.data_manager, study=dw.world.study)
    assert (row.description, row.category_label) == (
        "La PAS doit dépasser la PAD",
        "Fenêtre de visite",
    )


def test_per_protocol_leaves_out_only_confirmed_major_deviations(dw: DeviationWorld) -> None:
    subjects = [dw.include() for _ in range(3)]
    for subject in subjects:
        dw.vitals(subject, 0, weight=70, smoker=0, sbp=130, dbp=80)
        subject_randomise(actor=dw.nurse, subject=subject)
    not_randomised = dw.include()
    kept, excluded, pending = subjects
    for subject in (excluded, pending):
        deviation_declare(
            actor=dw.nurse,
            subject=subject,
            description="Consent signed after the first procedure",
            occurred_on=date(2026, 1, 5),
            deviation_class="major",
            category="consent",
        )
    deviation_review(
        actor=dw.data_manager,
        deviation=Deviation.objects.get(subject=excluded),
        decision="confirmed",
    )
    population = per_protocol_population(study=dw.world.study, actor=dw.data_manager)
    assert population.basis == "randomised"
    assert population.subjects == sorted([kept.identifier, pending.identifier])
    assert population.excluded == [excluded.identifier]
    assert population.pending_major == 1
    assert not_randomised.identifier not in population.subjects
    counted = per_protocol_count(study=dw.world.study, actor=dw.data_manager)
    assert (counted.basis, counted.size, counted.excluded, counted.pending_major) == (
        "randomised",
        2,
        1,
        1,
    )


def test_a_blinded_reader_sees_no_message_of_a_check_that_reads_an_arm_revealing_item(
    tmp_path: Path,
) -> None:
    dw = deviation_world(tmp_path, arm_revealing=True)
    dw.vitals(dw.include(), 0, sbp=80, dbp=90)
    study = dw.world.study
    (blinded,) = deviation_list(dw.statistician, study=study)
    assert blinded.description == "(blinded)"
    assert blinded.deviation.deviation_class == "major"  # that there is one is not the arm
    unblinded = person("ulysse", study=study, role=Role.UNBLINDED_STATISTICIAN)
    (row,) = deviation_list(unblinded, study=study)
    assert row.description == "SBP must exceed DBP"
