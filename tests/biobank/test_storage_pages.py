"""Biobank storage pages × every role × own site / other site / expired / no membership, plus
anonymous visitors; and the pages at work for the technician of site A: scan, box map, aliquot,
store, labels, a full box refused on the page."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import URLPattern

from carnet.accounts.roles import GRANTS, Action, Role
from carnet.biobank import urls as biobank_urls
from carnet.biobank import views_storage
from carnet.biobank.models import Box, Freezer, Sample, SamplePosition, SampleStatus
from carnet.biobank.storage import box_create, freezer_create, rack_create, sample_store
from carnet.core.clock import utc_now
from carnet.subjects.models import Subject
from tests.accounts.personas import ADMIN, World
from tests.biobank.storage_world import Storage, storage_world
from tests.web.helpers import administrator_client
from tests.web.test_page_matrix import SITUATIONS, signed_in, world_with_a_subject

pytestmark = pytest.mark.django_db

Rule = Callable[[str, str], bool]
BASE = "/studies/MINI/biobank/storage/"


def handles_samples(role: str, situation: str) -> bool:
    """The freezers list and the scan box: a sample handler at any site of the study."""
    return situation in {"own site", "other site"} and Action.MANAGE_SAMPLES in GRANTS[role]


def handles_site_a(role: str, situation: str) -> bool:
    """The freezer at ICM (site A's centre), its box and site A's sample."""
    return situation == "own site" and Action.MANAGE_SAMPLES in GRANTS[role]


PAGES: dict[str, tuple[str, Rule]] = {
    "studies/<str:identifier>/biobank/storage/": (BASE, handles_samples),
    "studies/<str:identifier>/biobank/scan/": ("/studies/MINI/biobank/scan/", handles_samples),
    "studies/<str:identifier>/biobank/storage/freezers/<int:pk>/": (
        BASE + "freezers/{freezer}/",
        handles_site_a,
    ),
    "studies/<str:identifier>/biobank/storage/boxes/<int:pk>/": (
        BASE + "boxes/{box}/",
        handles_site_a,
    ),
    "studies/<str:identifier>/biobank/storage/samples/<str:sample>/": (
        BASE + "samples/MATRIX-S1/",
        handles_site_a,
    ),
    "studies/<str:identifier>/biobank/storage/samples/<str:sample>/labels.pdf": (
        BASE + "samples/MATRIX-S1/labels.pdf?layout=roll",
        handles_site_a,
    ),
}
ACTIONS = {
    "studies/<str:identifier>/biobank/storage/freezers/new/": BASE + "freezers/new/",
    "studies/<str:identifier>/biobank/storage/freezers/<int:pk>/racks/new/": (
        BASE + "freezers/{freezer}/racks/new/"
    ),
    "studies/<str:identifier>/biobank/storage/freezers/<int:pk>/failure/": (
        BASE + "freezers/{freezer}/failure/"
    ),
    "studies/<str:identifier>/biobank/storage/racks/<int:pk>/boxes/new/": (
        BASE + "racks/{rack}/boxes/new/"
    ),
    "studies/<str:identifier>/biobank/storage/samples/<str:sample>/<str:action>/": (
        BASE + "samples/MATRIX-S1/take-out/"
    ),
}


def _storage_patterns() -> set[str]:
    return {
        str(p.pattern)
        for p in biobank_urls.urlpatterns
        if isinstance(p, URLPattern) and p.callback.__module__ == views_storage.__name__
    }


def test_the_table_describes_every_storage_page() -> None:
    assert _storage_patterns() == set(PAGES) | set(ACTIONS)


def _matrix_world() -> tuple[World, dict[str, int]]:
    w = world_with_a_subject()
    subject = Subject.objects.get(identifier="01-001")
    now = utc_now()
    sample = Sample.objects.create(
        study=w.study,
        environment=subject.environment,
        subject=subject,
        site=subject.site,
        identifier="MATRIX-S1",
        sample_type="plasma",
        volume=Decimal(2),
        unit="mL",
        created_at=now,
        created_by="x",
        updated_at=now,
    )
    freezer = freezer_create(
        actor=ADMIN, study=w.study, centre=w.site_a.centre, name="F-MATRIX", temperature=-80
    )
    rack = rack_create(actor=ADMIN, study=w.study, freezer=freezer, name="R1")
    box = box_create(actor=ADMIN, study=w.study, rack=rack, name="B1", rows=9, columns=9)
    sample_store(actor=ADMIN, sample=sample, box=box, position="A1")
    return w, {"freezer": freezer.pk, "rack": rack.pk, "box": box.pk}


def test_no_storage_page_or_action_lets_through_whom_it_should_not() -> None:
    w, numbers = _matrix_world()
    failures: list[str] = []
    anonymous = Client()
    for page, _rule in PAGES.values():
        if 200 <= anonymous.get(page.format(**numbers)).status_code < 300:
            failures.append(f"anonymous {page}")
    n = 0
    for role in Role.values:
        for situation in SITUATIONS:
            n += 1
            client = signed_in(w, role, situation, n)
            for page, rule in PAGES.values():
                status = client.get(page.format(**numbers)).status_code
                if (200 <= status < 300) != rule(role, situation):
                    failures.append(f"{role} {situation} {page}: {status}")
            for page in ACTIONS.values():
                if 200 <= client.get(page.format(**numbers)).status_code < 300:
                    failures.append(f"{role} {situation} GET {page}")
            # A rack added only by those allowed.
            before = Freezer.objects.get(pk=numbers["freezer"]).racks.count()
            client.post(BASE + "freezers/{freezer}/racks/new/".format(**numbers), {"name": f"R{n}"})
            added = Freezer.objects.get(pk=numbers["freezer"]).racks.count() > before
            if added != handles_site_a(role, situation):
                failures.append(f"{role} {situation} POST rack")
    admin = administrator_client()
    for page, _rule in PAGES.values():
        assert admin.get(page.format(**numbers)).status_code == 404, page
    assert failures == []


# --- the pages at work ---------------------------------------------------------------------------


@pytest.fixture
def storage() -> Storage:
    return storage_world()


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_technician_scans_aliquots_stores_and_sees_the_box_map(storage: Storage) -> None:
    client = _client(storage.technician)
    study_page = client.get("/studies/MINI/").content.decode()
    assert 'id="biobank-storage-link"' in study_page
    scanned = client.get("/studies/MINI/biobank/scan/", {"code": " MINI-01-001-PL01\n"})
    assert scanned.status_code == 302
    assert scanned["Location"] == BASE + "samples/MINI-01-001-PL01/"
    unknown = client.get("/studies/MINI/biobank/scan/", {"code": "NOPE-9"})
    assert unknown.status_code == 404
    assert "No sample of this study you may see has the identifier" in unknown.content.decode()
    sample_url = BASE + "samples/MINI-01-001-PL01/"
    client.post(sample_url + "aliquot/", {"volumes": "1 1 0,5 0.5"})
    children = list(
        Sample.objects.filter(parent=storage.plasma).values_list("identifier", flat=True)
    )
    assert len(children) == 4
    too_much = client.post(sample_url + "aliquot/", {"volumes": "2"})
    assert "holds+only+1+mL" in too_much["Location"]
    for child in children:
        client.post(BASE + f"samples/{child}/store/", {"box": storage.box.pk, "position": ""})
    grid = client.get(BASE + f"boxes/{storage.box.pk}/").content.decode()
    for position, child in zip(("A1", "A2", "A3", "A4"), sorted(children), strict=True):
        assert f'data-position="{position}" class="filled"' in grid
        assert child in grid
    assert "4 of 81 positions used (77 free)." in grid
    labels = client.get(sample_url + "labels.pdf", {"layout": "sheet", "children": "1"})
    assert labels.status_code == 200
    assert labels["Content-Type"] == "application/pdf"
    freezer = client.get(BASE + f"freezers/{storage.freezer.pk}/").content.decode()
    assert "4 of 81 positions used (77 free)." in freezer
    assert Sample.objects.get(pk=storage.plasma.pk).status == SampleStatus.COLLECTED


def test_a_full_box_is_refused_on_the_page(storage: Storage) -> None:
    client = _client(storage.technician)
    small = Box.objects.create(
        rack=storage.box.rack, name="ONE", rows=1, columns=1, created_at=utc_now(), created_by="x"
    )
    sample_store(actor=storage.technician, sample=storage.sample("Z-1"), box=small)
    response = client.post(
        BASE + "samples/MINI-01-001-PL01/store/", {"box": small.pk, "position": ""}
    )
    page = client.get(response["Location"]).content.decode()
    assert "Box ONE is full (1 of 1 positions used): choose another box." in page
    assert not SamplePosition.objects.filter(sample=storage.plasma).exists()


def test_an_investigator_has_no_storage_pages(storage: Storage) -> None:
    client = _client(storage.investigator)
    assert client.get(BASE).status_code == 404
    assert 'id="biobank-storage-link"' not in client.get("/studies/MINI/").content.decode()
