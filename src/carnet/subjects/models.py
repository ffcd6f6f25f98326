"""Subjects: the screening log, registered subjects, their consents, statuses, visits and vault.

Rows here are written only by `carnet.subjects.services`; nothing is deleted (GCP traceability).
Clinical dates are `date`s, in the time zone of the subject's centre.

Subjects and screening-log lines carry their environment (test or production), set from the
study's mode when they are created; what hangs off a subject (consents, visits, news…) is in the
subject's environment and is always reached through the subject.
"""

from __future__ import annotations

from datetime import date

from django.db import models

from carnet.subjects.environments import Environment
from carnet.subjects.statuses import (
    EligibilityReviewStatus,
    StudyStatus,
    TreatmentStatus,
    WithdrawalKind,
)


class SubjectSettings(models.Model):
    """A study's subject options (until the study format carries them)."""

    study = models.OneToOneField(
        "studies.Study", on_delete=models.PROTECT, related_name="subject_settings"
    )
    # A medical reviewer approves eligibility before the subject can go further.
    central_eligibility_review = models.BooleanField(default=False)
    # CNIL MR-001: off by default, the sponsor holds no names or national ID numbers.
    identity_vault = models.BooleanField(default=False)
    # Events that stop being scheduled once treatment ends (treatment cycles).
    treatment_events = models.JSONField(default=list)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"subject settings of {self.study}"


class IdentifierCounter(models.Model):
    """The last sequence number given in a study (``scope`` "") or at one site (its code).

    Test and production number apart: test patients never use up a production number.
    Inclusions lock this row (SELECT … FOR UPDATE) so two at once never get the same number.
    """

    study = models.ForeignKey("studies.Study", on_delete=models.PROTECT, related_name="+")
    environment = models.CharField(max_length=10, choices=Environment.choices)
    scope = models.CharField(max_length=20, blank=True)
    last = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["study", "environment", "scope"], name="identifier_counter_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.study_id}/{self.environment}/{self.scope or 'study'}: {self.last}"


class Sex(models.TextChoices):
    FEMALE = "F", "female"
    MALE = "M", "male"
    UNKNOWN = "U", "unknown"


class ScreeningEntry(models.Model):
    """An anonymous line of the screening log: a patient assessed and never included."""

    study = models.ForeignKey("studies.Study", on_delete=models.PROTECT, related_name="+")
    site = models.ForeignKey("accounts.StudySite", on_delete=models.PROTECT, related_name="+")
    environment = models.CharField(max_length=10, choices=Environment.choices)
    screening_number = models.CharField(max_length=30, blank=True)
    screened_on = models.DateField()
    age = models.PositiveSmallIntegerField()
    sex = models.CharField(max_length=1, choices=Sex.choices)
    reason_not_included = models.CharField(max_length=500)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["site", "screened_on", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["site", "environment", "screening_number"],
                condition=~models.Q(screening_number=""),
                name="screening_entry_number_unique",
            )
        ]

    def __str__(self) -> str:
        return f"screened {self.screened_on} at site {self.site_id}"


class Subject(models.Model):
    """A registered patient, known to the data centre only by a pseudonymous identifier."""

    study = models.ForeignKey("studies.Study", on_delete=models.PROTECT, related_name="subjects")
    site = models.ForeignKey(
        "accounts.StudySite", on_delete=models.PROTECT, related_name="subjects"
    )
    # Test patients are numbered apart: a test 01-001 and a production 01-001 may both exist.
    environment = models.CharField(max_length=10, choices=Environment.choices)
    identifier = models.CharField(max_length=40)
    sequence = models.PositiveIntegerField()
    screening_number = models.CharField(max_length=30, blank=True)
    sex = models.CharField(max_length=1, choices=Sex.choices, default=Sex.UNKNOWN)
    age_at_inclusion = models.PositiveSmallIntegerField(null=True, blank=True)
    included_on = models.DateField()
    study_status = models.CharField(max_length=20, choices=StudyStatus.choices)
    study_status_on = models.DateField()
    treatment_status = models.CharField(
        max_length=20, choices=TreatmentStatus.choices, default=TreatmentStatus.NOT_STARTED
    )
    treatment_status_on = models.DateField(null=True, blank=True)
    off_treatment_reason = models.CharField(max_length=30, blank=True)
    eligibility_review = models.CharField(
        max_length=12,
        choices=EligibilityReviewStatus.choices,
        default=EligibilityReviewStatus.NOT_REQUIRED,
    )
    # The values the registration gave and each criterion's result, as evaluated.
    eligibility = models.JSONField(default=dict)
    randomised_on = models.DateField(null=True, blank=True)
    # Derived from every dated piece of information; kept here so lists can filter on it.
    last_news_on = models.DateField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["study", "identifier"]
        constraints = [
            models.UniqueConstraint(
                fields=["study", "environment", "identifier"], name="subject_identifier_unique"
            ),
            models.UniqueConstraint(
                fields=["site", "environment", "screening_number"],
                condition=~models.Q(screening_number=""),
                name="subject_screening_number_unique",
            ),
        ]
        indexes = [models.Index(fields=["study", "site", "study_status"], name="subject_list_idx")]

    def __str__(self) -> str:
        return self.identifier

    @property
    def end_of_treatment_on(self) -> date | None:
        """Return the date treatment ended (None while not ended)."""
        if self.treatment_status == TreatmentStatus.OFF_TREATMENT:
            return self.treatment_status_on
        return None


class StatusChange(models.Model):
    """One move of a subject's study or treatment status (the history the header summarises)."""

    class Track(models.TextChoices):
        STUDY = "study", "study status"
        TREATMENT = "treatment", "treatment status"

    subject = models.ForeignKey(Subject, on_delete=models.PROTECT, related_name="status_changes")
    track = models.CharField(max_length=10, choices=Track.choices)
    old = models.CharField(max_length=20, blank=True)
    new = models.CharField(max_length=20)
    on = models.DateField()
    reason = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["subject", "on", "pk"]

    def __str__(self) -> str:
        return f"{self.subject_id} {self.track}: {self.old} -> {self.new} on {self.on}"


class EligibilityReview(models.Model):
    """A medical reviewer's decision on a subject's eligibility, with the anonymised document."""

    subject = models.ForeignKey(Subject, on_delete=models.PROTECT, related_name="reviews")
    approved = models.BooleanField()
    comment = models.TextField()
    reviewer_id = models.IntegerField(null=True)
    document_name = models.CharField(max_length=200, blank=True)
    document_sha256 = models.CharField(max_length=64, blank=True)
    document_path = models.CharField(max_length=500, blank=True)
    decided_on = models.DateField()
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"review of {self.subject_id}: {'approved' if self.approved else 'rejected'}"


class Consent(models.Model):
    """A signed consent form: its version, date and the optional consents given."""

    subject = models.ForeignKey(Subject, on_delete=models.PROTECT, related_name="consents")
    form_version = models.CharField(max_length=40)
    consented_on = models.DateField()
    biobank = models.BooleanField(default=False)
    future_research = models.BooleanField(default=False)
    # Consents of their own, not implied by future research: genetic analysis of the samples,
    # and sharing them outside the centre (a research partner).
    genetic_analysis = models.BooleanField(default=False)
    sharing = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["subject", "consented_on", "pk"]

    def __str__(self) -> str:
        return f"consent {self.form_version} of {self.subject_id} on {self.consented_on}"


class Withdrawal(models.Model):
    """A withdrawal of consent: from treatment, from follow-up, or objection to data use."""

    subject = models.ForeignKey(Subject, on_delete=models.PROTECT, related_name="withdrawals")
    kind = models.CharField(max_length=12, choices=WithdrawalKind.choices)
    withdrawn_on = models.DateField()
    reason = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["subject", "withdrawn_on", "pk"]

    def __str__(self) -> str:
        return f"withdrawal ({self.kind}) of {self.subject_id} on {self.withdrawn_on}"


class Visit(models.Model):
    """The actual date of one occurrence of an event (scheduled or not) for a subject."""

    subject = models.ForeignKey(Subject, on_delete=models.PROTECT, related_name="visits")
    event = models.CharField(max_length=64)
    occurrence = models.PositiveIntegerField()
    visit_on = models.DateField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["subject", "visit_on", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["subject", "event", "occurrence"], name="visit_occurrence_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.subject_id} {self.event} #{self.occurrence} on {self.visit_on}"


class News(models.Model):
    """A dated piece of news of a subject outside visits (a phone call, a letter from the GP)."""

    subject = models.ForeignKey(Subject, on_delete=models.PROTECT, related_name="news")
    news_on = models.DateField()
    source = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["subject", "news_on", "pk"]

    def __str__(self) -> str:
        return f"news of {self.subject_id} on {self.news_on}"


class Transfer(models.Model):
    """A subject's move from one site of the study to another."""

    subject = models.ForeignKey(Subject, on_delete=models.PROTECT, related_name="transfers")
    from_site = models.ForeignKey("accounts.StudySite", on_delete=models.PROTECT, related_name="+")
    to_site = models.ForeignKey("accounts.StudySite", on_delete=models.PROTECT, related_name="+")
    transferred_on = models.DateField()
    reason = models.CharField(max_length=500)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"transfer of {self.subject_id} on {self.transferred_on}"


class Identity(models.Model):
    """A subject's directly identifying data, one Fernet token (the key is not in the database)."""

    subject = models.OneToOneField(Subject, on_delete=models.PROTECT, related_name="identity")
    token = models.TextField()
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"identity of {self.subject_id} (encrypted)"


class PlannedVisit(models.Model):
    """One occurrence of a subject's schedule as `carnet.subjects.schedule` plans it.

    Derived, not clinical data: `carnet.subjects.scheduling` deletes and writes a subject's rows
    again whenever what the schedule reads changes, so lists filter, count, sort and page in SQL
    ("overdue" is an awaited row whose ``latest`` is before today).
    """

    # No index of their own on either key: the unique constraint's index starts with the subject
    # and the overdue list's partial index with the study; a rebuild writes about 70 rows a
    # subject, and each index more made every one of those INSERTs slower.
    subject = models.ForeignKey(
        Subject, on_delete=models.CASCADE, related_name="planned_visits", db_index=False
    )
    # The subject's study, kept here so the overdue list reads one index.
    study = models.ForeignKey(
        "studies.Study", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    event = models.CharField(max_length=64)
    number = models.PositiveIntegerField()
    target = models.DateField(null=True)  # null: an unscheduled event
    earliest = models.DateField(null=True)
    latest = models.DateField(null=True)
    done_on = models.DateField(null=True)
    # Why a visit not done is no longer awaited (schedule.Settled); "" while it is.
    settled = models.CharField(max_length=20, blank=True)
    unbounded = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["subject", "event", "number"], name="planned_visit_unique"
            )
        ]
        indexes = [
            # Ordered as the overdue list reads it (longest overdue first, then by row), so its
            # first page comes from the index without sorting every overdue visit of the study.
            models.Index(
                fields=["study", "latest", "id"],
                name="planned_visit_awaited_idx",
                condition=models.Q(done_on__isnull=True, settled="", target__isnull=False),
            )
        ]

    def __str__(self) -> str:
        return f"{self.subject_id} {self.event} #{self.number} due {self.target}"


class ScheduleSummary(models.Model):
    """What lists show of a subject's schedule, whatever the day: the next awaited visit and the
    earliest closing window of those awaited (overdue from the day after it)."""

    subject = models.OneToOneField(
        Subject, on_delete=models.CASCADE, primary_key=True, related_name="schedule_summary"
    )
    # The study version and the day the schedule was planned with: stale when either is behind.
    study_version = models.ForeignKey(
        "studies.StudyVersion", on_delete=models.SET_NULL, null=True, related_name="+"
    )
    planned_through = models.DateField()
    next_event = models.CharField(max_length=64, blank=True)
    next_number = models.PositiveIntegerField(null=True)
    next_target = models.DateField(null=True)
    next_earliest = models.DateField(null=True)
    next_latest = models.DateField(null=True)
    first_awaited_latest = models.DateField(null=True)
    refreshed_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            models.Index(fields=["next_target"], name="schedule_next_idx"),
            models.Index(fields=["first_awaited_latest"], name="schedule_overdue_idx"),
        ]

    def __str__(self) -> str:
        return f"schedule of {self.subject_id}: next {self.next_event} {self.next_target}"
