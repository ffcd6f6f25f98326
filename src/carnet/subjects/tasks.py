"""The subjects' periodic jobs: keep the stored schedules current, and tell site staff each day
how many visits are overdue at their sites."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django_tasks import task

from carnet.accounts.models import Membership, User
from carnet.accounts.permissions import may
from carnet.accounts.roles import Action
from carnet.core.clock import utc_today
from carnet.messaging.selectors import message_written
from carnet.messaging.services import message_send, recipient_language
from carnet.studies.models import Study, StudyMode
from carnet.subjects.scheduling import schedule_rebuild
from carnet.subjects.selectors import overdue_list
from carnet.worker.services import register_periodic_job

# Studies where visits still happen: a frozen or locked study expects none.
OPEN_MODES = (StudyMode.DESIGN, StudyMode.TEST, StudyMode.PRODUCTION)


def _open_studies() -> list[Study]:
    return list(Study.objects.filter(mode__in=OPEN_MODES).order_by("identifier"))


@task()
def schedules_refresh() -> int:
    """Plan again the schedules that have fallen behind (a new study version, or the end of what
    was planned coming near); return how many subjects were planned."""
    return sum(schedule_rebuild(study=study, stale_only=True) for study in _open_studies())


def _overdue_counts(user: User, studies: list[Study]) -> list[tuple[Study, int]]:
    """Return, for each study where the user records visits, the overdue visits they can see."""
    counts = []
    for study in studies:
        if not may(user, Action.CHANGE_STATUS, study=study):
            continue
        found = overdue_list(user, study=study, page=1, per_page=1)
        if found.total:
            counts.append((study, found.total))
    return counts


def _digest_text(counts: list[tuple[Study, int]]) -> tuple[str, str]:
    """Return the digest's subject and body in the active language."""
    total = sum(count for _study, count in counts)
    subject = ngettext(
        "Carnet: %(count)s visit overdue at your sites",
        "Carnet: %(count)s visits overdue at your sites",
        total,
    ) % {"count": total}
    lines = [_("Visits whose window has closed without taking place, by study:"), ""]
    for study, count in counts:
        link = settings.CARNET_SITE_URL + reverse("subjects:overdue", args=[study.identifier])
        lines.append(
            ngettext(
                "%(study)s: %(count)s visit overdue (%(link)s)",
                "%(study)s: %(count)s visits overdue (%(link)s)",
                count,
            )
            % {"study": study.identifier, "count": count, "link": link}
        )
    return subject, "\n".join(lines)


@task()
def overdue_digest() -> int:
    """Send each person who records visits the count of overdue visits at their sites, once a
    day (a second run the same day sends nothing more); return how many messages were written."""
    studies = _open_studies()
    for study in studies:
        schedule_rebuild(study=study, stale_only=True)
    today = utc_today()
    # Whoever ever held a role there; `may` keeps those whose role is in force today.
    user_ids = Membership.objects.filter(study__in=studies).values_list("user_id", flat=True)
    written = 0
    for user in User.objects.filter(pk__in=user_ids, is_active=True).order_by("pk"):
        key = f"overdue-digest:{user.pk}:{today.isoformat()}"
        if message_written(key):
            continue  # sent earlier today (the job ran again after a restart)
        counts = _overdue_counts(user, studies)
        if not counts:
            continue
        language = recipient_language(user)
        with translation.override(language):
            subject, body = _digest_text(counts)
        message_send(
            recipient=user,
            subject=subject,
            body=body,
            language=language,
            key=key,
        )
        written += 1
    return written


def register() -> None:
    register_periodic_job("schedules-refresh", schedules_refresh, every=timedelta(hours=1))
    register_periodic_job("overdue-digest", overdue_digest, every=timedelta(days=1))
