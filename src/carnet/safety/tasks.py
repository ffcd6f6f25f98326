"""The safety app's periodic job: reminders of the clocks before they fall, through the outbox.

Each SUSAR not yet reported gets one reminder to the study's pharmacovigilance when its due
date is near and one when it is overdue (messages keyed by case, due date and state: running
the job again sends nothing new); each report the investigator has not sent gets one reminder
to the site's investigators once the 24 hours are over."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from functools import partial

from django.utils import translation
from django.utils.translation import gettext as _
from django_tasks import task

from carnet.accounts.roles import Role
from carnet.accounts.selectors import site_members
from carnet.core.clock import utc_now, utc_today
from carnet.messaging.models import Message
from carnet.messaging.services import message_send, recipient_language
from carnet.safety import clocks
from carnet.safety.models import ReportKind, SaeReport
from carnet.worker.services import register_periodic_job


def _remind(
    report: SaeReport, roles: tuple[str, ...], key: str, write: Callable[[], tuple[str, str]]
) -> int:
    sent = 0
    for recipient in site_members(study=report.study, site=report.subject.site_id, roles=roles):
        keyed = f"{key}:{recipient.pk}"
        if Message.objects.filter(key=keyed).exists():
            continue  # reminded already
        language = recipient_language(recipient)
        with translation.override(language):
            title, body = write()
        message_send(recipient=recipient, subject=title, body=body, language=language, key=keyed)
        sent += 1
    return sent


def _susar_text(report: SaeReport, state: str) -> tuple[str, str]:
    words = {
        "study": report.study.identifier,
        "reference": report.reference,
        "due": report.susar_due_on.isoformat() if report.susar_due_on else "",
    }
    if state == "overdue":
        title = _("%(study)s: SUSAR %(reference)s is overdue (due %(due)s)") % words
    else:
        title = _("%(study)s: SUSAR %(reference)s is due on %(due)s") % words
    body = (
        _(
            "Report SUSAR %(reference)s to EudraVigilance and record the date in Carnet. "
            "This message holds no data of the case."
        )
        % words
    )
    return title, body


def _site_text(report: SaeReport) -> tuple[str, str]:
    words = {"study": report.study.identifier, "reference": report.reference}
    if report.kind != ReportKind.SAE:
        title = _("%(study)s: report %(reference)s is overdue") % words
        body = _(
            "The report %(reference)s is past its limit of %(hours)s hours and is not signed: "
            "sign and send it in Carnet."
        ) % {**words, "hours": report.site_limit_hours}
        return title, body
    title = _("%(study)s: SAE report %(reference)s is overdue") % words
    body = (
        _(
            "The serious adverse event %(reference)s was recorded more than 24 hours ago and its "
            "report is not signed: sign and send it in Carnet."
        )
        % words
    )
    return title, body


def reminders_send() -> int:
    """Write the reminders due now; return how many messages were written."""
    today, now = utc_today(), utc_now()
    written = 0
    pending = SaeReport.objects.filter(
        susar=True, susar_reported_on__isnull=True, susar_due_on__isnull=False
    ).select_related("study", "subject")
    for report in pending:
        state = clocks.clock_state(report.susar_due_on, None, today)
        if state in {"due-soon", "overdue"}:
            key = f"safety:susar:{report.reference}:{report.susar_due_on}:{state}"
            written += _remind(
                report,
                (Role.PHARMACOVIGILANCE,),
                key,
                partial(_susar_text, report, state),
            )
    # The shortest limit first in the database; each report's own limit checked below.
    late = SaeReport.objects.filter(aware_at__lt=now - timedelta(hours=1)).exclude(
        versions__number=1, versions__sent_at__isnull=False
    )
    for report in late.select_related("study", "subject"):
        if now <= clocks.site_due_at(report.aware_at, report.site_limit_hours):
            continue
        written += _remind(
            report,
            (Role.INVESTIGATOR,),
            f"safety:site:{report.reference}",
            partial(_site_text, report),
        )
    return written


@task()
def safety_reminders() -> int:
    """Write the reminders of the safety clocks that are due."""
    return reminders_send()


def register() -> None:
    register_periodic_job("safety-reminders", safety_reminders, every=timedelta(hours=1))
