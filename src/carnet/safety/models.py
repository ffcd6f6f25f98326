"""SAE reports and their versions, the sponsor's assessment, reference safety information and
the reconciliation's resolved differences."""

from __future__ import annotations

from django.db import models


class ReportKind(models.TextChoices):
    """What a safety report reports: each is expedited to the sponsor within its own limit."""

    SAE = "sae", "SAE"
    AESI = "aesi", "AESI"
    PREGNANCY = "pregnancy", "pregnancy"


class SaeReport(models.Model):
    """One case as reported to the sponsor: a serious adverse event, an adverse event of
    special interest (AESI) or a pregnancy. One per adverse event (a row of a form instance) or
    pregnancy form, opened by the save that makes it reportable, versioned by the
    investigator's initial and follow-up reports; SAEs and AESIs are assessed by
    pharmacovigilance."""

    study = models.ForeignKey("studies.Study", on_delete=models.PROTECT, related_name="+")
    subject = models.ForeignKey("subjects.Subject", on_delete=models.PROTECT, related_name="+")
    form_instance = models.ForeignKey(
        "capture.FormInstance", on_delete=models.PROTECT, related_name="+"
    )
    row = models.PositiveIntegerField(default=0, help_text="Row of a repeating group, else 0.")
    reference = models.CharField(max_length=40, unique=True)
    kind = models.CharField(max_length=10, choices=ReportKind.choices, default=ReportKind.SAE)
    # An adverse event of special interest, whether reported as an AESI or (serious) as an SAE.
    aesi = models.BooleanField(default=False)
    # When the site became aware: the save that made the case reportable (for an AESI turned
    # serious, the save that made it serious).
    aware_at = models.DateTimeField()
    # The investigator's limit from awareness: 24 hours for an SAE, the study's for the others.
    site_limit_hours = models.PositiveSmallIntegerField(default=24)
    # --- the sponsor's assessment (pharmacovigilance) ---
    investigator_causality = models.PositiveSmallIntegerField(null=True, blank=True)
    sponsor_causality = models.PositiveSmallIntegerField(null=True, blank=True)
    expected = models.BooleanField(null=True, blank=True)
    rsi = models.ForeignKey(
        "safety.ReferenceSafetyInformation",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    susar = models.BooleanField(default=False)
    fatal_or_life_threatening = models.BooleanField(default=False)
    # Day 0 of the SUSAR clock: the day the sponsor received the first report.
    sponsor_aware_on = models.DateField(null=True, blank=True)
    susar_due_on = models.DateField(null=True, blank=True)
    follow_up_due_on = models.DateField(null=True, blank=True)
    susar_reported_on = models.DateField(null=True, blank=True)
    follow_up_reported_on = models.DateField(null=True, blank=True)
    assessed_by = models.CharField(max_length=200, blank=True)
    assessed_at = models.DateTimeField(null=True, blank=True)
    assessment_comment = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["form_instance", "row"], name="safety_one_report_per_adverse_event"
            )
        ]
        ordering = ["pk"]

    def __str__(self) -> str:
        return self.reference


class SaeReportVersion(models.Model):
    """The initial report (number 1) or a follow-up: the casebook's data at the time, signed by
    the investigator and then sent to pharmacovigilance."""

    report = models.ForeignKey(SaeReport, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField()
    content = models.JSONField(default=dict)
    narrative = models.TextField(blank=True)
    created_by = models.CharField(max_length=200)
    created_at = models.DateTimeField()
    signature = models.ForeignKey(
        "accounts.Signature", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    signed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    late = models.BooleanField(default=False, help_text="Sent after the 24-hour limit.")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["report", "number"], name="safety_one_number_per_report_version"
            )
        ]
        ordering = ["report", "number"]

    def __str__(self) -> str:
        return f"{self.report_id}/{self.number}"


class ReferenceSafetyInformation(models.Model):
    """A version of the study's reference safety information (the expected reactions of the
    investigator's brochure or SmPC), in force from a date."""

    study = models.ForeignKey("studies.Study", on_delete=models.PROTECT, related_name="+")
    version = models.CharField(max_length=40)
    effective_from = models.DateField()
    expected_terms = models.JSONField(default=list)
    added_by = models.CharField(max_length=200)
    added_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["study", "version"], name="safety_one_rsi_version"),
            models.UniqueConstraint(
                fields=["study", "effective_from"], name="safety_one_rsi_per_day"
            ),
        ]
        ordering = ["study", "effective_from"]

    def __str__(self) -> str:
        return self.version


class ReconciliationDecision(models.Model):
    """What was done about one difference between the safety report and the casebook: a query
    raised to the site, or resolved with a reason. Keyed by the values compared, so a new
    difference on the same field shows again."""

    class Outcome(models.TextChoices):
        QUERY = "query", "query"
        RESOLVED = "resolved", "resolved"

    report = models.ForeignKey(SaeReport, on_delete=models.PROTECT, related_name="decisions")
    field = models.CharField(max_length=32)
    safety_value = models.TextField(blank=True)
    clinical_value = models.TextField(blank=True)
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    reason = models.TextField(blank=True)
    query_id = models.IntegerField(null=True, blank=True)
    decided_by = models.CharField(max_length=200)
    decided_at = models.DateTimeField()

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return f"{self.report_id} {self.field}: {self.outcome}"
