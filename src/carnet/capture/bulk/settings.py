"""A study's options for the bulk import, changed by those who manage the study, audited."""

from __future__ import annotations

from django.db import transaction
from django.utils.translation import gettext as _

from carnet.accounts.models import User
from carnet.accounts.permissions import require
from carnet.accounts.roles import Action
from carnet.audit.services import AuditEntry, SystemActor, audit_record_many
from carnet.capture.models import ImportSettings
from carnet.core.errors import ValidationError
from carnet.studies.models import Study


def import_settings_of(study: Study) -> ImportSettings:
    """Return the study's import options (the defaults, unsaved, until someone sets them)."""
    found = ImportSettings.objects.filter(study=study).first()
    return found or ImportSettings(study=study)


@transaction.atomic
def import_settings_set(
    *, actor: User | SystemActor, study: Study, creates_subjects: bool, reason: str
) -> ImportSettings:
    """Say whether an import may register the subjects its files name and the study does not
    know (those who manage the study, or the server's operator); audited with the reason."""
    if not isinstance(actor, SystemActor):
        require(actor, Action.MANAGE_STUDY, study=study)
    if not reason.strip():
        raise ValidationError(_("Say why the import settings change (kept in the audit trail)."))
    settings, _created = ImportSettings.objects.select_for_update().get_or_create(study=study)
    old = {"creates_subjects": settings.creates_subjects}
    settings.creates_subjects = creates_subjects
    settings.save()
    audit_record_many(
        actor=actor,
        entries=[
            AuditEntry(
                action="import.settings_changed",
                target=settings,
                old=old,
                new={"creates_subjects": creates_subjects},
                reason=reason.strip(),
            )
        ],
        chain=study.audit_chain,
    )
    return settings
