"""Messages to sites about their queries: a new query opened, and the optional daily digest."""

from __future__ import annotations

from datetime import date

from django.db.models import Count
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from carnet.accounts.models import Membership
from carnet.accounts.roles import GRANTS, Action
from carnet.core.clock import utc_today
from carnet.messaging.services import message_send, recipient_language
from carnet.quality.models import ACTIVE_STATES, Query, QuerySettings
from carnet.studies.models import Study

_ANSWERING_ROLES = [role for role, actions in GRANTS.items() if Action.ANSWER_QUERY in actions]


def _site_people(study_id: int, site_ids: list[int]) -> list[Membership]:
    """Return the memberships in force today of the people who answer queries at the sites."""
    today = utc_today()
    return list(
        Membership.objects.filter(
            study_id=study_id,
            site_id__in=site_ids,
            role__in=_ANSWERING_ROLES,
            starts_on__lte=today,
            ended_at__isnull=True,
            user__is_active=True,
        )
        .exclude(ends_on__lt=today)
        .select_related("user", "site", "study")
    )


def _code(membership: Membership) -> str:
    return membership.site.code if membership.site is not None else ""


def sites_notify(*, study_id: int, opened_by_site: dict[int, int]) -> int:
    """Write one message to each person answering queries at a site where queries just
    opened (how many, and where to find them); return the number of messages written."""
    written: set[tuple[int, int]] = set()
    for membership in _site_people(study_id, list(opened_by_site)):
        key = (membership.user_id, membership.site_id or 0)
        if key in written:
            continue
        written.add(key)
        count = opened_by_site[membership.site_id or 0]
        with translation.override(recipient_language(membership.user)):
            subject = ngettext(
                "%(study)s: %(count)d new query at site %(site)s",
                "%(study)s: %(count)d new queries at site %(site)s",
                count,
            ) % {"study": membership.study.identifier, "count": count, "site": _code(membership)}
            body = _(
                "Queries on your subjects' data wait for an answer. Open Carnet, then the "
                "study's queries, to answer them."
            )
            message_send(recipient=membership.user, subject=subject, body=body)
    return len(written)


def digests_send(*, day: date | None = None) -> int:
    """Write the daily digest of open queries to the sites of studies that want one, once a
    day per person and site (a second run the same day writes nothing); return how many
    people and sites it addressed."""
    today = day or utc_today()
    sent = 0
    for study in Study.objects.filter(
        pk__in=QuerySettings.objects.filter(daily_digest=True).values("study_id")
    ):
        counts = dict(
            Query.objects.filter(study=study, state__in=ACTIVE_STATES)
            .order_by()
            .values_list("site_id")
            .annotate(count=Count("pk"))
        )
        for membership in _site_people(study.pk, list(counts)):
            count = counts[membership.site_id]
            with translation.override(recipient_language(membership.user)):
                subject = ngettext(
                    "%(study)s: %(count)d query waits at site %(site)s",
                    "%(study)s: %(count)d queries wait at site %(site)s",
                    count,
                ) % {"study": study.identifier, "count": count, "site": _code(membership)}
                body = _("Your daily digest of the queries waiting for your site's answer.")
                message_send(
                    recipient=membership.user,
                    subject=subject,
                    body=body,
                    key=f"query-digest:{study.pk}:{membership.site_id}:{membership.user_id}:{today}",
                )
            sent += 1
    return sent
