"""A save that makes an adverse event serious tells the study's pharmacovigilance and the
investigators of the subject's site, by a message in Carnet and by e-mail.

The seriousness item is the one the study definition names by its CDISC SDTM variable
``AESER`` (the item's ``sas_name``), whatever its own name. The message goes out when a save
turns it to "yes" (from empty, "no" or a missing code), not on every save of a serious event.
It names the study, the subject, the event and the form, with a link to the form; it holds no
value of the form (an adverse event's term or treatment may reveal the arm to a blinded
reader): the reader opens the form in Carnet, where the blinding policy applies.

The messages are written to the outbox inside the save's transaction (a save that rolls back
writes none) and e-mailed by the worker after the commit.
"""

from __future__ import annotations

from django.conf import settings
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _

from carnet.accounts.models import User
from carnet.accounts.roles import Role
from carnet.accounts.selectors import site_members
from carnet.capture.seams import Change, WriteContext, register_save_listener
from carnet.messaging.services import message_send, recipient_language
from carnet.studies.definition.model import StudyDefinition
from carnet.subjects.environments import Environment

# CDISC SDTM AE domain: "Serious Event" (codelist NY).
SERIOUSNESS_VARIABLE = "AESER"
# How "yes" is stored: code 1 of an integer yes/no list, Y of CDISC's NY list, true of a boolean.
YES = frozenset({"1", "y", "yes", "true"})
RECIPIENT_ROLES = (Role.PHARMACOVIGILANCE, Role.INVESTIGATOR)


def _is_yes(text: str | None) -> bool:
    return text is not None and text.strip().lower() in YES


def _turned_serious(change: Change) -> bool:
    """Return whether the change makes the value "yes" where it was not."""
    new, old = change.new, change.old
    if new.removed or new.missing or not _is_yes(new.text):
        return False
    return old is None or old.removed or bool(old.missing) or not _is_yes(old.text)


def seriousness_items(definition: StudyDefinition, form: str) -> set[str]:
    """Return the names of the form's items declared as the SDTM variable AESER."""
    found = next((f for f in definition.forms if f.name == form), None)
    if found is None:
        return set()
    return {item.name for item in found.items() if item.sas_name == SERIOUSNESS_VARIABLE}


def _message_text(context: WriteContext, definition: StudyDefinition, link: str) -> tuple[str, str]:
    """Return the message's subject and body in the active language: names, never values."""
    instance, subject = context.form_instance, context.subject
    language = translation.get_language() or settings.LANGUAGE_CODE
    event = definition.event(instance.event)
    form = next((f for f in definition.forms if f.name == instance.form), None)
    event_label = event.label.text(language) if event is not None else instance.event
    form_label = form.label.text(language) if form is not None else instance.form
    if instance.occurrence > 1:
        event_label = f"{event_label} {instance.occurrence}"
    if instance.repeat > 1:
        form_label = f"{form_label} {instance.repeat}"
    words = {"study": subject.study.identifier, "subject": subject.identifier}
    title = _("%(study)s: serious adverse event, subject %(subject)s") % words
    lines = [
        _("An adverse event of subject %(subject)s in study %(study)s was recorded as serious.")
        % words,
        "",
        _("Event: %(event)s") % {"event": event_label},
        _("Form: %(form)s") % {"form": form_label},
        _("Open the form: %(link)s") % {"link": link},
        "",
        _(
            "This message holds no data of the form: read it in Carnet. A serious adverse event "
            "is reported to the sponsor's pharmacovigilance within 24 hours."
        ),
    ]
    if instance.environment == Environment.TEST:
        lines += ["", _("Test data: the study is in test mode; this is not a real patient.")]
    return title, "\n".join(lines)


def _form_link(context: WriteContext, definition: StudyDefinition) -> str:
    """Return the form page's address (a repeating form's instance chosen by ?repeat=)."""
    instance, subject = context.form_instance, context.subject
    form = next((f for f in definition.forms if f.name == instance.form), None)
    path = reverse(
        "capture:form",
        args=[
            subject.study.identifier,
            subject.identifier,
            instance.event,
            instance.occurrence,
            instance.form,
        ],
    )
    repeating = instance.repeat > 1 or (form is not None and form.repeating)
    query = f"?repeat={instance.repeat}" if repeating else ""
    return settings.CARNET_SITE_URL + path + query


def serious_event_notify(context: WriteContext) -> None:
    """Write a message to each pharmacovigilance officer of the study and each investigator of
    the subject's site when the write turns the form's AESER item to "yes" (a listener)."""
    # Cheap first: most saves change no value to "yes", and need not read the definition.
    candidates = {change.item for change in context.changes if _turned_serious(change)}
    if not candidates:
        return
    definition = context.form_instance.study_version.parsed()
    if not candidates & seriousness_items(definition, context.form_instance.form):
        return
    subject = context.subject
    link = _form_link(context, definition)
    recipients: list[User] = site_members(
        study=subject.study, site=subject.site_id, roles=RECIPIENT_ROLES
    )
    for recipient in recipients:
        language = recipient_language(recipient)
        with translation.override(language):
            title, body = _message_text(context, definition, link)
        message_send(recipient=recipient, subject=title, body=body, language=language)


def sae_reports_open(context: WriteContext) -> None:
    """Open the SAE report of each adverse event row the write turns serious (a listener):
    exactly one per event, however often it turns serious again."""
    from carnet.safety.services import sae_report_open

    rows = {change.row for change in context.changes if _turned_serious(change)}
    if not rows:
        return
    definition = context.form_instance.study_version.parsed()
    items = seriousness_items(definition, context.form_instance.form)
    for change in context.changes:
        if change.item in items and _turned_serious(change):
            sae_report_open(instance=context.form_instance, row=change.row, context=context)


def register() -> None:
    register_save_listener(serious_event_notify)
    register_save_listener(sae_reports_open)
