"""People who use Carnet. Accounts are deactivated, never deleted (GCP traceability)."""

from django.contrib.auth.models import AbstractUser
from django.db import models


class User(AbstractUser):
    """A personal account; `full_name` is what signatures and the audit trail show."""

    full_name = models.CharField(max_length=200, blank=True)
    language = models.CharField(max_length=8, blank=True, help_text="Preferred language (en, fr).")

    def display_name(self) -> str:
        return self.full_name or self.get_full_name() or self.username
