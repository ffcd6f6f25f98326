"""Registration flows into the casebook, and each criterion says what its result means.

REG is a small study in production whose file maps the wizard's answers to casebook items: sex,
age and the consent go to the screening forms, ECOG and the pregnancy exclusion too. Alice, an
investigator at site 01, includes on 16 June 2025 (the suite's clock); Mira is the central medical
reviewer.
"""

from __future__ import annotations

import html as entities
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.test import Client

from carnet.accounts.models import StudySite, User
from carnet.accounts.roles import Role
from carnet.accounts.services import centre_add, site_activate, site_add, token_create
from carnet.audit.models import AuditEvent
from carnet.capture.models import FormInstance, ItemValue
from carnet.core.errors import ValidationError
from carnet.studies.definition import study_file_read
from carnet.studies.models import Study
from carnet.studies.services import study_load, study_mode_change, study_publish
from carnet.subjects.models import Sex, Subject
from carnet.subjects.services import (
    ConsentGiven,
    eligibility_review_decide,
    subject_include,
    subject_settings_set,
)
from tests.accounts.personas import ADMIN, person
from tests.subjects.conftest import Snapshot

REG = (Path(__file__).parent / "fixtures" / "registration.yaml").read_text()
BASE = "/studies/REG"
INCLUDED_ON = date(2025, 6, 10)


class Reg:
    def __init__(self, study: Study, site: StudySite, alice: User, mira: User) -> None:
        self.study, self.site, self.alice, self.mira = study, site, alice, mira


@pytest.fixture
def reg(db: Any, clock: time_machine.Traveller, tmp_path: Path) -> Reg:
    path = tmp_path / "reg.yaml"
    path.write_text(REG)
    outcome = study_load(actor=ADMIN, study_file=study_file_read(path), source_name="reg.yaml")
    study_publish(actor=ADMIN, study=outcome.study)
    study = Study.objects.get(pk=outcome.study.pk)
    study_mode_change(actor=ADMIN, study=study, mode="production")
    study.refresh_from_db()
    icm = centre_add(actor=ADMIN, code="ICM", name="Institut du Cancer de Montpellier")
    site = site_activate(
        actor=ADMIN, site=site_add(actor=ADMIN, study=study, centre=icm), on=date(2025, 1, 1)
    )
    alice = person("alice", study=study, role=Role.INVESTIGATOR, sites=[site])
    mira = person("mira", study=study, role=Role.MEDICAL_REVIEWER)
    return Reg(study, site, alice, mira)


def include(reg: Reg, *, age: int = 64, **eligibility: Any) -> Subject:
    return subject_include(
        actor=reg.alice,
        study=reg.study,
        site=reg.site,
        included_on=INCLUDED_ON,
        eligibility={"ecog_ps": 1, "excl_pregnancy": 0, **eligibility},
        consent=ConsentGiven(form_version="v2.0", consented_on=date(2025, 6, 9), biobank=True),
        sex=Sex.MALE,
        age=age,
    )


def casebook(subject: Subject) -> dict[tuple[str, str], str]:
    return {
        (value.form_instance.form, value.item): value.text
        for value in ItemValue.objects.filter(form_instance__subject=subject).select_related(
            "form_instance"
        )
    }


def web(user: User, *, french: bool = False) -> Client:
    client = Client()
    client.force_login(user)
    if french:
        client.post("/language/", {"language": "fr", "next": "/"})
    return client


def api(reg: Reg, user: User) -> Client:
    _token, key = token_create(actor=ADMIN, user=user, study=reg.study)
    return Client(headers={"authorization": f"Bearer {key}"})


# --- item 5: values entered once are saved once ---------------------------------------------


def test_inclusion_writes_the_mapped_casebook_items_once_audited(reg: Reg) -> None:
    subject = include(reg)

    assert casebook(subject) == {
        ("consent", "consent_date"): "2025-06-09",
        ("consent", "consent_version"): "v2.0",
        ("consent", "biobank_consent"): "1",
        ("demographics", "sex"): "1",
        ("demographics", "age"): "64",
        ("demographics", "ecog_ps"): "1",
        ("eligibility", "excl_pregnancy"): "0",
    }
    # Through the save pipeline: one audit event per value, by the person who included, and
    # each form records the study version it was entered under.
    changes = AuditEvent.objects.filter(action="item.changed")
    assert changes.count() == 7
    assert {event.actor_id for event in changes} == {reg.alice.pk}
    forms = FormInstance.objects.filter(subject=subject)
    assert {f.study_version_id for f in forms} == {reg.study.current_version_id}
    assert {f.status for f in forms} == {"in_progress"}  # the site completes them


def test_the_casebook_shows_the_registration_values(reg: Reg) -> None:
    include(reg)
    client = api(reg, reg.alice)

    columns = client.get(f"/api{BASE}/subjects/01-001/casebook").json()
    screening = next(column for column in columns if column["event"] == "screening")
    statuses = {cell["form"]: cell["status"] for cell in screening["forms"]}
    assert statuses == {
        "consent": "in_progress",
        "demographics": "in_progress",
        "eligibility": "in_progress",
    }
    form = client.get(f"/api{BASE}/subjects/01-001/forms/screening/1/demographics").json()
    assert {item: value["text"] for item, value in form["values"].items()} == {
        "sex": "1",
        "age": "64",
        "ecog_ps": "1",
    }
    page = web(reg.alice).get(f"{BASE}/subjects/01-001/forms/screening/1/demographics/")
    assert page.status_code == 200
    assert 'value="64"' in page.text


def test_a_value_the_casebook_refuses_refuses_the_inclusion_and_writes_nothing(reg: Reg) -> None:
    before = Snapshot()
    values_before = ItemValue.objects.count()
    with pytest.raises(ValidationError) as refused:
        include(reg, age=101)  # eligible (18 or over), but the casebook's range stops at 100
    assert str(refused.value).startswith("age: ")
    assert before.unchanged()
    assert ItemValue.objects.count() == values_before


def test_an_eligibility_value_contradicting_the_wizards_answer_is_refused(reg: Reg) -> None:
    with pytest.raises(ValidationError) as refused:
        include(reg, **{"screening.age": 40})
    assert str(refused.value).startswith("eligibility.screening.age: ")
    assert not Subject.objects.exists()


def test_a_reviewed_inclusion_writes_the_casebook_when_the_review_approves(reg: Reg) -> None:
    subject_settings_set(
        actor=ADMIN, study=reg.study, central_eligibility_review=True, identity_vault=False
    )
    subject = include(reg)
    assert casebook(subject) == {}  # nothing is entered before the review approves

    eligibility_review_decide(actor=reg.mira, subject=subject, approved=True, comment="Eligible")

    assert casebook(subject)[("demographics", "age")] == "64"
    assert {e.actor_id for e in AuditEvent.objects.filter(action="item.changed")} == {reg.alice.pk}


def test_the_wizard_asks_each_answer_once_and_writes_it_into_the_casebook(reg: Reg) -> None:
    client = web(reg.alice)
    page = client.get(f"{BASE}/subjects/new/")
    form = page.context["form"]
    # Age and sex are asked once, as the wizard's own questions; ECOG once, as an item.
    assert [field.name for field in form.item_fields()] == ["item_ecog_ps", "item_excl_pregnancy"]
    # Nobody's sex is "unknown" by default.
    assert form["sex"].value() in (None, "")
    assert '<option value="U" selected>' not in page.text

    answers = {
        "site": "01",
        "included_on": "2025-06-10",
        "age": "58",
        "consent_version": "v2.0",
        "consented_on": "2025-06-09",
        "item_ecog_ps": "0",
        "item_excl_pregnancy": "0",
        "step": "include",
    }
    refused = client.post(f"{BASE}/subjects/new/", answers)
    assert refused.status_code == 400
    assert refused.context["form"].errors["sex"]
    assert not Subject.objects.exists()

    included = client.post(f"{BASE}/subjects/new/", {**answers, "sex": "F"})
    assert included.status_code == 302
    subject = Subject.objects.get()
    assert casebook(subject)[("demographics", "sex")] == "2"
    assert casebook(subject)[("demographics", "age")] == "58"
    assert casebook(subject)[("demographics", "ecog_ps")] == "0"
    assert subject.eligibility["values"]["screening.age"] == 58


# --- item 6: eligibility wording -------------------------------------------------------------


def _result_row(page_text: str, label: str) -> str:
    text = entities.unescape(page_text)
    start = text.rindex(label)  # the criteria table comes after the wizard's fields
    return text[start : text.index("</tr>", start)]


@pytest.mark.parametrize(
    ("french", "met", "absent", "present", "missing"),
    [
        (False, "met", "absent", "present", "missing value: Age at consent"),
        (True, "rempli", "absent", "présent", "valeur manquante : Âge au consentement"),
    ],
)
def test_each_criterion_says_what_its_result_means(
    reg: Reg, french: bool, met: str, absent: str, present: str, missing: str
) -> None:
    client = web(reg.alice, french=french)
    answers = {
        "site": "01",
        "included_on": "2025-06-10",
        "sex": "M",
        "age": "64",
        "item_ecog_ps": "1",
        "item_excl_pregnancy": "0",
        "step": "check",
    }
    checked = client.post(f"{BASE}/subjects/new/", answers)
    ecog = "ECOG 0 ou 1" if french else "ECOG 0 or 1"
    pregnancy = "Grossesse ou allaitement" if french else "Pregnancy or breast-feeding"
    assert f'class="outcome outcome-met">{met}<' in _result_row(checked.text, ecog)
    # An exclusion that does not apply is absent, never "met" for a man.
    assert f'class="outcome outcome-absent">{absent}<' in _result_row(checked.text, pregnancy)

    pregnant = client.post(f"{BASE}/subjects/new/", {**answers, "item_excl_pregnancy": "1"})
    assert f"<strong>{present}</strong>" in _result_row(pregnant.text, pregnancy)

    no_age = client.post(f"{BASE}/subjects/new/", {**answers, "age": ""})
    row = _result_row(no_age.text, "Âge >= 18 ans" if french else "Age 18 or over")
    assert missing in row
    assert "screening.age" not in row

    consent = {"consent_version": "v2", "consented_on": "2025-06-09"}
    client.post(f"{BASE}/subjects/new/", {**answers, **consent, "step": "include"})
    subject_page = client.get(f"{BASE}/subjects/01-001/")
    assert f'class="outcome outcome-absent">{absent}<' in _result_row(subject_page.text, pregnancy)


def test_the_api_says_what_each_criterion_result_means(reg: Reg) -> None:
    include(reg)
    client = api(reg, reg.alice)
    criteria = client.get(f"/api{BASE}/subjects/01-001").json()["eligibility"]
    assert {c["name"]: c["outcome"] for c in criteria} == {
        "in_age": "met",
        "in_ecog": "met",
        "ex_pregnancy": "absent",
    }
