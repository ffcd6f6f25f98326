"""What each person sees of samples. The biobank technician sees the samples of their sites with
the subject's identifier, the visit and the consent to the biobank, and nothing of the casebook
(no VIEW_SUBJECTS); the site's staff see their own patients' samples; others see none. Blinding
is untouched: no sample output carries an arm."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.biobank.conftest import Biobank

pytestmark = pytest.mark.django_db


@pytest.fixture
def collected(biobank: Biobank) -> Biobank:
    biobank.visit()
    biobank.process_plasma(biobank.plasma(held="cold"))
    return biobank


def _pages(b: Biobank) -> dict[str, str]:
    study = b.study.identifier
    return {
        "samples": reverse("biobank:samples", args=[study]),
        "subject_samples": reverse("biobank:subject_samples", args=[study, "01-001"]),
        "sample": reverse("biobank:sample", args=[study, "MINI-01-001-PLASMA-1"]),
        "missing": reverse("biobank:missing", args=[study]),
    }


def test_the_technician_sees_the_samples_the_visit_and_the_consent(collected: Biobank) -> None:
    client = collected.client(collected.technician)
    pages = _pages(collected)
    for url in pages.values():
        assert client.get(url).status_code == 200, url
    sample = client.get(pages["sample"]).content.decode()
    assert "PL2-PED-B-C-C-B-A" in sample
    subject = client.get(pages["subject_samples"]).content.decode()
    assert "samples stored in the biobank" in subject
    assert "no future research" in subject
    listing = client.get(pages["samples"]).content.decode()
    assert "MINI-01-001-PLASMA-1" in listing
    study = client.get(reverse("studies:study", args=[collected.study.identifier]))
    assert 'id="samples-link"' in study.content.decode()


def test_the_technician_cannot_open_the_casebook_the_subject_or_values(
    collected: Biobank,
) -> None:
    study = collected.study.identifier
    client = collected.client(collected.technician)
    for url in (
        reverse("capture:casebook", args=[study, "01-001"]),
        reverse("subjects:subject", args=[study, "01-001"]),
        reverse("capture:form", args=[study, "01-001", "baseline", 1, "vitals"]),
    ):
        assert client.get(url).status_code in {403, 404}, url
    api = collected.api(collected.technician)
    assert api.get(f"/api/studies/{study}/subjects/01-001/casebook").status_code in {403, 404}
    assert api.get(f"/api/studies/{study}/subjects").status_code in {403, 404}
    found = api.get(f"/api/studies/{study}/samples/MINI-01-001-PLASMA-1")
    assert found.status_code == 200
    assert set(found.json()) >= {"identifier", "subject", "event", "sprec", "deviations"}
    assert "arm" not in found.json()


def test_a_technician_of_another_site_and_outsiders_see_nothing(collected: Biobank) -> None:
    for person in (collected.technician_b, collected.nurse_b, collected.outsider):
        client = collected.client(person)
        for name, url in _pages(collected).items():
            if name in {"samples", "missing"} and person is not collected.outsider:
                page = client.get(url)
                assert page.status_code == 200
                assert "MINI-01-001-PLASMA-1" not in page.content.decode()
                assert "01-001" not in page.content.decode()
            else:
                assert client.get(url).status_code == 404, (person.username, url)


def test_the_blinded_statistician_reads_samples_without_an_arm(collected: Biobank) -> None:
    api = collected.api(collected.statistician)
    study = collected.study.identifier
    found = api.get(f"/api/studies/{study}/subjects/01-001/samples")
    assert found.status_code == 200
    assert "arm" not in found.content.decode().lower().replace("pharm", "")
    # Reading is not writing: the statistician records nothing.
    refused = api.post(
        f"/api/studies/{study}/subjects/01-001/samples",
        {"event": "baseline", "code": "tumour", "collected_at": "2026-01-05T09:00+01:00"},
        content_type="application/json",
    )
    assert refused.status_code == 403
