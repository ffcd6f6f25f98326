"""People who use Carnet. Accounts are deactivated, never deleted (GCP traceability)."""

from django.contrib.auth.models import AbstractUser
from django.db import models

from carnet.accounts.roles import Role


class User(AbstractUser):
    """A personal account; `full_name` is what signatures and the audit trail show."""

    full_name = models.CharField(max_length=200, blank=True)
    language = models.CharField(max_length=8, blank=True, help_text="Preferred language (en, fr).")

    def display_name(self) -> str:
        return self.full_name or self.get_full_name() or self.username


class Centre(models.Model):
    """A hospital or clinic that takes part in studies; its time zone dates what happens there."""

    code = models.CharField(max_length=20, unique=True)
    name = models.CharField(max_length=200)
    city = models.CharField(max_length=100, blank=True)
    time_zone = models.CharField(max_length=64, default="Europe/Paris")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} — {self.name}"


class StudySite(models.Model):
    """A centre taking part in a study; nobody is included there before its activation date."""

    study = models.ForeignKey("studies.Study", on_delete=models.PROTECT, related_name="sites")
    centre = models.ForeignKey(Centre, on_delete=models.PROTECT, related_name="study_sites")
    code = models.CharField(max_length=10, help_text="The site's number in the study, e.g. 01.")
    activated_on = models.DateField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["study", "centre"], name="study_site_centre_unique"),
            models.UniqueConstraint(fields=["study", "code"], name="study_site_code_unique"),
        ]
        ordering = ["study", "code"]

    def __str__(self) -> str:
        return f"{self.study.identifier} site {self.code} ({self.centre.code})"


class Membership(models.Model):
    """A line of the delegation log: a person holds a role on a study, for a site or all sites,
    from one date to another. Memberships end; they are never deleted."""

    user = models.ForeignKey(User, on_delete=models.PROTECT, related_name="memberships")
    study = models.ForeignKey("studies.Study", on_delete=models.PROTECT, related_name="memberships")
    site = models.ForeignKey(
        StudySite, null=True, blank=True, on_delete=models.PROTECT, related_name="memberships"
    )
    role = models.CharField(max_length=32, choices=Role.choices)
    starts_on = models.DateField()
    ends_on = models.DateField(null=True, blank=True)
    # Set when a role is revoked with immediate effect: it stops then, not at the end of its
    # last day (ends_on, that day, stays what the delegation log shows).
    ended_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["user", "study"], name="membership_user_study_idx")]
        ordering = ["study", "user", "starts_on"]

    def __str__(self) -> str:
        where = self.site.code if self.site else "all sites"
        return f"{self.user} {self.role} on {self.study} ({where})"


class ApiToken(models.Model):
    """A personal API token for one study: 32 hexadecimal characters, shown once, kept hashed."""

    user = models.ForeignKey(User, on_delete=models.PROTECT, related_name="api_tokens")
    study = models.ForeignKey("studies.Study", on_delete=models.PROTECT, related_name="api_tokens")
    key_hash = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=8, help_text="The first characters, to recognise it.")
    label = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user}, {self.study})"


class UserSession(models.Model):
    """A signed-in browser session, so that people see where they are signed in and end it."""

    user = models.ForeignKey(User, on_delete=models.PROTECT, related_name="sessions")
    session_key = models.CharField(max_length=40, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField()
    ip_address = models.CharField(max_length=45, blank=True)
    user_agent = models.CharField(max_length=200, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.CharField(max_length=40, blank=True)

    class Meta:
        ordering = ["-last_seen_at"]

    def __str__(self) -> str:
        return f"{self.user} session from {self.ip_address or '?'}"


class Signature(models.Model):
    """An electronic signature (21 CFR 11.50, 11.70): who, when, meaning, and what was signed.

    ``binding_hash`` covers the signer, time, meaning, the record's type and identifier and the
    SHA-256 of its content: copied onto another record, or kept after the record changed, it no
    longer verifies.
    """

    signer = models.ForeignKey(User, on_delete=models.PROTECT, related_name="signatures")
    signer_name = models.CharField(max_length=200)
    signed_at = models.DateTimeField()
    meaning = models.CharField(max_length=300)
    study = models.ForeignKey(
        "studies.Study", null=True, blank=True, on_delete=models.PROTECT, related_name="signatures"
    )
    record_type = models.CharField(max_length=100)
    record_id = models.CharField(max_length=100)
    content_sha256 = models.CharField(max_length=64)
    binding_hash = models.CharField(max_length=64, unique=True)

    class Meta:
        indexes = [models.Index(fields=["record_type", "record_id"], name="signature_record_idx")]
        ordering = ["-signed_at"]

    def __str__(self) -> str:
        return f"{self.signer_name}: {self.meaning} ({self.record_type} {self.record_id})"
