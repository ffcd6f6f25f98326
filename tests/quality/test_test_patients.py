"""Queries on test patients (subjects entered while the study was in test mode, the UAT
environment) are kept apart: the default query list, its export, the site's home and the data
manager's workspace count production patients only; the test view shows the test ones."""

from __future__ import annotations

import pytest

from carnet.quality.selectors import QueryFilters, queries_list, query_get, workspace
from carnet.quality.services import query_raise
from carnet.subjects import environments
from carnet.subjects.environments import Environment
from carnet.subjects.models import Subject
from tests.capture.conftest import include
from tests.quality.conftest import Quality

pytestmark = pytest.mark.django_db


def two_patients(quality: Quality) -> tuple[int, int]:
    """Return a query on the production patient and one on a test patient, at site A."""
    real = query_raise(actor=quality.monitor, subject=quality.subject, text="Check the weight.")
    tester = include(quality.capture.world, quality.entry)
    # A patient of the test environment (as if entered while the study was in test mode).
    Subject.objects.filter(pk=tester.pk).update(environment=Environment.TEST)
    tester.refresh_from_db()
    test = query_raise(actor=quality.monitor, subject=tester, text="Training query.")
    return real.pk, test.pk


def open_at_site_a(quality: Quality) -> int:
    (site,) = [
        w for w in workspace(actor=quality.manager, study=quality.study) if w.site.code == "01"
    ]
    return sum(site.queries_by_age.values())


def test_the_default_list_and_the_workspace_leave_test_patients_out(quality: Quality) -> None:
    real, test = two_patients(quality)
    for actor in (quality.manager, quality.monitor):
        listed = queries_list(actor=actor, study=quality.study)
        assert [query.pk for query in listed] == [real]
    assert open_at_site_a(quality) == 1
    with pytest.raises(Exception, match="no such query"):
        query_get(actor=quality.manager, study=quality.study, pk=test)


def test_the_test_view_shows_the_test_patients_queries_only(quality: Quality) -> None:
    _real, test = two_patients(quality)
    with environments.test_view(quality.study.identifier):
        listed = queries_list(actor=quality.manager, study=quality.study, filters=QueryFilters())
        assert [query.pk for query in listed] == [test]
        assert query_get(actor=quality.manager, study=quality.study, pk=test).pk == test
        assert open_at_site_a(quality) == 1


def test_the_page_and_its_export_follow_the_test_view_switch(quality: Quality) -> None:
    from django.test import Client
    from django.urls import reverse

    from carnet.subjects.environments import SESSION_KEY

    _real, _test = two_patients(quality)
    client = Client()
    client.force_login(quality.monitor)
    page = reverse("quality:queries", args=[quality.study.identifier])
    export = reverse("quality:export", args=[quality.study.identifier])
    shown = client.get(page).content.decode()
    assert "Check the weight." in shown
    assert "Training query." not in shown
    csv = b"".join(client.get(export).streaming_content).decode()
    assert "Check the weight." in csv
    assert "Training query." not in csv
    session = client.session
    session[SESSION_KEY] = [quality.study.identifier]
    session.save()
    shown = client.get(page).content.decode()
    assert "Training query." in shown
    assert "Check the weight." not in shown
