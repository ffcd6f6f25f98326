"""Test (UAT) patients stay apart: what a study records in test mode never reaches production.

MINI goes to test mode; Alice includes a patient and logs a screened one at site A; the study then
goes to production. Production lists, counts and numbering never see the test patient; the test
view shows them, read-only, to whoever may see the study's subjects.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from django.test import Client

from carnet.accounts.permissions import PermissionDenied
from carnet.core.errors import ValidationError
from carnet.studies.services import study_mode_change
from carnet.subjects.environments import test_view as viewing_test_patients
from carnet.subjects.models import Subject
from carnet.subjects.selectors import (
    environment_seen,
    follow_up_campaign,
    overdue_list,
    screening_log,
    subject_for_actor,
    subject_list,
    subjects_visible,
)
from carnet.subjects.services import news_record, screening_entry_add, subject_change_status
from tests.accounts.personas import ADMIN
from tests.subjects.conftest import Cast, include
from tests.web.helpers import enrol

BASE = "/studies/MINI"
API = "/api/studies/MINI"


def signed_in(user: Any) -> Client:
    """Return a client signed in as ``user``, second factor enrolled (a data manager needs one)."""
    client = Client()
    client.force_login(user)
    enrol(client)
    return client


def _mode(cast: Cast, mode: str) -> None:
    study_mode_change(actor=ADMIN, study=cast.study, mode=mode, reason="acceptance testing")
    cast.study.refresh_from_db()


@pytest.fixture
def tested(cast: Cast) -> Subject:
    """Return the patient included in test mode (long ago: their visits are overdue)."""
    _mode(cast, "test")
    subject = include(cast, on=date(2025, 1, 6), screening_number="S-1")
    screening_entry_add(
        actor=cast.alice,
        study=cast.study,
        site=cast.site_a,
        screened_on=date(2025, 1, 7),
        age=50,
        sex="F",
        reason_not_included="declined",
        screening_number="S-2",
    )
    _mode(cast, "production")
    return subject


def test_a_patient_included_in_test_mode_is_a_test_patient(cast: Cast, tested: Subject) -> None:
    assert (tested.identifier, tested.environment) == ("01-001", "test")
    assert tested.visits.count() == 0  # nothing else needs its own mark: it hangs off the subject


def test_no_production_list_or_count_shows_a_test_patient(cast: Cast, tested: Subject) -> None:
    for actor in (cast.alice, cast.dana):
        assert environment_seen(actor, study=cast.study) == "production"
        assert subjects_visible(actor, study=cast.study).count() == 0
        assert subject_list(actor, study=cast.study).rows == []
        assert overdue_list(actor, study=cast.study, today=date(2025, 6, 16)).rows == []
        campaign = follow_up_campaign(actor, study=cast.study, months=1, on=date(2025, 6, 16))
        assert list(campaign) == []
        assert screening_log(actor, study=cast.study).total == 0
        with pytest.raises(PermissionDenied):
            subject_for_actor(actor, study=cast.study, identifier="01-001")


def test_the_first_production_patient_is_01_001_after_test_patients(
    cast: Cast, tested: Subject
) -> None:
    first = include(cast, screening_number="S-1")
    second = include(cast, screening_number="S-2")
    assert (first.identifier, first.environment) == ("01-001", "production")
    assert second.identifier == "01-002"
    assert Subject.objects.filter(identifier="01-001").count() == 2


def test_test_numbering_goes_on_in_test_mode_apart_from_production(cast: Cast) -> None:
    _mode(cast, "test")
    assert include(cast).identifier == "01-001"
    assert include(cast).identifier == "01-002"
    _mode(cast, "design")
    designed = include(cast)
    assert designed.identifier == "01-001"  # design is not test: nothing is tested there
    _mode(cast, "test")
    assert include(cast).identifier == "01-003"
    designed.study.refresh_from_db()
    with pytest.raises(ValidationError, match="not a test patient"):
        news_record(actor=cast.alice, subject=designed, news_on=date(2025, 6, 10), source="call")


def test_the_pages_and_api_show_only_production_patients(cast: Cast, tested: Subject) -> None:
    include(cast, site=cast.site_b, actor=cast.bea)  # 02-001, production
    dana = signed_in(cast.dana)
    page = dana.get(f"{BASE}/subjects/").content.decode()
    assert "02-001" in page
    assert "01-001" not in page
    assert "S-2" not in dana.get(f"{BASE}/screening-log/").content.decode()
    assert "01-001" not in dana.get(f"{BASE}/overdue/").content.decode()
    assert dana.get(f"{BASE}/subjects/01-001/").status_code == 404
    listed = dana.get(f"{API}/subjects").json()["items"]
    assert [s["identifier"] for s in listed] == ["02-001"]
    assert dana.get(f"{API}/screening-log").json()["items"] == []
    unknown = dana.get(f"{API}/subjects/01-999")
    hidden = dana.get(f"{API}/subjects/01-001")
    assert (hidden.status_code, hidden.json()["title"]) == (403, unknown.json()["title"])


def test_the_test_view_shows_test_patients_with_a_banner(cast: Cast, tested: Subject) -> None:
    include(cast, site=cast.site_b, actor=cast.bea)
    dana = signed_in(cast.dana)
    switched = dana.post(f"{BASE}/test-view/", {"on": "1", "next": f"{BASE}/subjects/"})
    assert switched.status_code == 302
    page = dana.get(f"{BASE}/subjects/").content.decode()
    assert "01-001" in page
    assert "02-001" not in page
    assert 'class="test-banner"' in page
    assert 'class="test-banner"' in dana.get(f"{BASE}/").content.decode()
    # The API does not follow the browser's switch: a script asks for test data explicitly.
    assert [s["identifier"] for s in dana.get(f"{API}/subjects").json()["items"]] == ["02-001"]
    assert [
        s["identifier"] for s in dana.get(f"{API}/subjects?environment=test").json()["items"]
    ] == ["01-001"]
    dana.post(f"{BASE}/test-view/", {"on": "0", "next": f"{BASE}/subjects/"})
    page = dana.get(f"{BASE}/subjects/").content.decode()
    assert "02-001" in page
    assert 'class="test-banner"' not in page


def test_only_people_who_see_subjects_may_open_the_test_view(cast: Cast, tested: Subject) -> None:
    from carnet.accounts.roles import Role
    from tests.accounts.personas import person

    manager = signed_in(person("pam", study=cast.study, role=Role.PROJECT_MANAGER))
    refused = manager.post(f"{BASE}/test-view/", {"on": "1"})
    assert refused.status_code == 404
    assert "carnet_test_view" not in manager.session
    assert signed_in(cast.dana).get(f"{BASE}/test-view/").status_code == 405


def test_the_test_view_follows_the_actors_site_scope(cast: Cast, tested: Subject) -> None:
    with viewing_test_patients(cast.study.identifier):
        assert environment_seen(cast.bea, study=cast.study) == "test"
        assert subjects_visible(cast.bea, study=cast.study).count() == 0  # site B only
        assert [s.identifier for s in subjects_visible(cast.alice, study=cast.study)] == ["01-001"]


def test_test_patients_are_read_only_once_the_study_is_in_production(
    cast: Cast, tested: Subject
) -> None:
    with viewing_test_patients(cast.study.identifier):
        subject = subject_for_actor(cast.alice, study=cast.study, identifier="01-001")
    with pytest.raises(ValidationError, match="test patient"):
        news_record(actor=cast.alice, subject=subject, news_on=date(2025, 6, 10), source="call")
    with pytest.raises(ValidationError, match="test patient"):
        subject_change_status(
            actor=cast.alice, subject=subject, status="lost_to_follow_up", on=date(2025, 6, 10)
        )


def test_in_test_mode_everyone_sees_the_test_patients(cast: Cast) -> None:
    _mode(cast, "test")
    include(cast)
    assert environment_seen(cast.alice, study=cast.study) == "test"
    assert [s.identifier for s in subjects_visible(cast.dana, study=cast.study)] == ["01-001"]
    page = signed_in(cast.dana).get(f"{BASE}/subjects/").content.decode()
    assert "01-001" in page
    assert 'class="test-banner"' in page
