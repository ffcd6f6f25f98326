"""Times in histories and lists: local time of the site, with the zone's abbreviation."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.template import Context, Template

from carnet.web.templatetags.carnet_time import local_time_text
from tests.accounts.personas import world

SUMMER = datetime(2026, 5, 18, 12, 3, tzinfo=UTC)
WINTER = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)


def test_a_utc_moment_is_shown_in_the_zone_with_its_abbreviation() -> None:
    assert local_time_text(SUMMER, "Europe/Paris") == "2026-05-18 14:03 CEST"
    assert local_time_text(WINTER, "Europe/Paris") == "2026-01-05 10:30 CET"
    assert local_time_text(SUMMER, "America/Cayenne") == "2026-05-18 09:03 -03"
    assert local_time_text(SUMMER.isoformat(), "Europe/Paris") == "2026-05-18 14:03 CEST"
    # Without a site: the server's zone (UTC here), said as such rather than passed off as local.
    assert local_time_text(SUMMER) == "2026-05-18 12:03 UTC"
    assert local_time_text(None) == ""


@pytest.mark.django_db
def test_the_filter_takes_a_study_site_or_a_centre() -> None:
    w = world()
    template = Template("{% load carnet_time %}{{ at|site_time:site }} / {{ at|site_time:centre }}")
    shown = template.render(Context({"at": SUMMER, "site": w.site_a, "centre": w.site_b.centre}))
    assert shown == "2026-05-18 14:03 CEST / 2026-05-18 14:03 CEST"
