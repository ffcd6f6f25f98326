"""Queries: questions on captured data, raised by a check (automatic) or a person (manual),
answered by the site and closed by whoever may close them; and the site's "confirmed correct"
acknowledgements of soft checks."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class QueryState(models.TextChoices):
    OPEN = "open", pgettext_lazy("query state", "Open")
    ANSWERED = "answered", pgettext_lazy("query state", "Answered")
    CLOSED = "closed", pgettext_lazy("query state", "Closed")
    CANCELLED = "cancelled", pgettext_lazy("query state", "Cancelled")


# A query in one of these states waits for someone: it counts in badges, lists and ages.
ACTIVE_STATES = (QueryState.OPEN, QueryState.ANSWERED)


class QueryKind(models.TextChoices):
    AUTOMATIC = "automatic", _("Automatic (edit check)")
    MANUAL = "manual", _("Manual")


class QueryScope(models.TextChoices):
    ITEM = "item", _("Item")
    FORM = "form", _("Form")
    VISIT = "visit", _("Visit")
    SUBJECT = "subject", _("Subject")


class Resolution(models.TextChoices):
    NONE = "", _("None")
    CORRECTED = "corrected", _("Corrected (the check no longer fires)")
    CONFIRMED = "confirmed", _("Confirmed correct by the site")
    RESOLVED = "resolved", _("Closed by a person")
    CANCELLED = "cancelled", _("Cancelled")


class QuerySettings(models.Model):
    """A study's query options (until the study format carries them)."""

    study = models.OneToOneField(
        "studies.Study", on_delete=models.PROTECT, related_name="query_settings"
    )
    # A correction that clears the check closes its automatic query; off, a person closes it.
    auto_close = models.BooleanField(default=True)
    # Only the person who raised a manual query may close it (data managers included).
    close_reserved_to_raiser = models.BooleanField(default=False)
    # Sites receive one message a day listing their open queries.
    daily_digest = models.BooleanField(default=False)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"query settings of {self.study}"


class Query(models.Model):
    """A question on a subject's data, from a check or a person, with its state and place."""

    study = models.ForeignKey("studies.Study", on_delete=models.PROTECT, related_name="+")
    site = models.ForeignKey("accounts.StudySite", on_delete=models.PROTECT, related_name="+")
    subject = models.ForeignKey(
        "subjects.Subject", on_delete=models.PROTECT, related_name="queries"
    )
    kind = models.CharField(max_length=10, choices=QueryKind.choices)
    scope = models.CharField(max_length=10, choices=QueryScope.choices)
    state = models.CharField(max_length=10, choices=QueryState.choices, default=QueryState.OPEN)
    resolution = models.CharField(
        max_length=10, choices=Resolution.choices, default=Resolution.NONE, blank=True
    )
    form_instance = models.ForeignKey(
        "capture.FormInstance",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="queries",
    )
    event = models.CharField(max_length=64, blank=True)
    occurrence = models.PositiveIntegerField(null=True, blank=True)
    form = models.CharField(max_length=64, blank=True)
    item = models.CharField(max_length=64, blank=True)
    row = models.PositiveIntegerField(default=0)
    check_result = models.ForeignKey(
        "capture.CheckResult",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="queries",
    )
    check_name = models.CharField(max_length=64, blank=True)
    text = models.TextField()
    raised_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    raised_by_label = models.CharField(max_length=200)
    opened_at = models.DateTimeField()
    answered_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["opened_at", "pk"]
        indexes = [
            models.Index(fields=["study", "state", "site"], name="query_study_state_site"),
            models.Index(fields=["form_instance", "state"], name="query_form_state"),
            models.Index(fields=["subject", "state"], name="query_subject_state"),
        ]
        constraints = [
            # One waiting automatic query per check result: re-checks run twice open nothing.
            models.UniqueConstraint(
                fields=["check_result"],
                condition=Q(state__in=["open", "answered"]) & Q(check_result__isnull=False),
                name="query_one_active_per_check",
            )
        ]

    def __str__(self) -> str:
        return f"query {self.pk} on {self.subject_id} ({self.state})"

    @property
    def active(self) -> bool:
        return self.state in ACTIVE_STATES


class MessageKind(models.TextChoices):
    RAISED = "raised", _("Raised")
    ANSWERED = "answered", _("Answered")
    COMMENT = "comment", _("Comment")
    CLOSED = "closed", _("Closed")
    REOPENED = "reopened", _("Re-opened")
    CANCELLED = "cancelled", _("Cancelled")
    CONFIRMED = "confirmed", _("Confirmed correct")
    CORRECTED = "corrected", _("Check cleared by a correction")


class QueryMessage(models.Model):
    """One message of a query's thread, and the state it left the query in."""

    query = models.ForeignKey(Query, on_delete=models.PROTECT, related_name="messages")
    kind = models.CharField(max_length=10, choices=MessageKind.choices)
    text = models.TextField(blank=True)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    author_label = models.CharField(max_length=200)
    state = models.CharField(max_length=10, choices=QueryState.choices)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"{self.kind} on query {self.query_id}"


class CheckAcknowledgement(models.Model):
    """The site confirmed the values a soft check questions: later checks leave them alone
    while the values the check read (its ``fingerprint``) stay the same."""

    form_instance = models.ForeignKey(
        "capture.FormInstance", on_delete=models.PROTECT, related_name="+"
    )
    check_name = models.CharField(max_length=64)
    row = models.PositiveIntegerField(default=0)
    items = models.JSONField(default=list)
    fingerprint = models.CharField(max_length=64)
    reason = models.TextField()
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    query = models.ForeignKey(Query, null=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["created_at", "pk"]
        indexes = [
            models.Index(fields=["form_instance", "check_name", "row"], name="ack_form_check")
        ]

    def __str__(self) -> str:
        return f"{self.check_name} confirmed on {self.form_instance_id}"


class DataReview(models.Model):
    """A data manager's "data review" mark on a form instance: the version they reviewed.
    The workspace lists the forms changed since (a higher version) or never reviewed."""

    form_instance = models.OneToOneField(
        "capture.FormInstance", on_delete=models.PROTECT, related_name="data_review"
    )
    version = models.PositiveIntegerField()
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    reviewed_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"data review of {self.form_instance_id} at version {self.version}"


# Protocol deviations live in their own module.
from carnet.quality.deviation_models import Deviation  # noqa: E402, F401
from carnet.quality.recheck_models import RecheckRun, RecheckStatus  # noqa: E402, F401 (re-checks)
