# ruff: noqa: E501  (the study's YAML reads better one item per line)
"""MINI amended with an adverse event form declared with SDTM variables (seriousness, criteria,
causality, outcome) and a concomitant medication form, in production, randomised, with the
people of a safety workflow: a nurse and an investigator at site A, an investigator at site B,
the study's pharmacovigilance officer, a data manager and a monitor."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from carnet.accounts.models import User
from carnet.accounts.roles import Role
from carnet.capture.services import SaveOutcome, form_save
from carnet.safety.models import SaeReport
from carnet.studies.definition import study_file_read
from carnet.studies.services import study_load, study_mode_change, study_publish
from carnet.subjects.models import Subject
from carnet.subjects.services import ConsentGiven, subject_include
from tests.accounts.personas import ADMIN, FIXTURE, World, person, world

CODE_LISTS = """  - name: relatedness
    type: integer
    items:
      - {code: 1, label: {en: "Not related", fr: "Exclue"}}
      - {code: 2, label: {en: "Unlikely", fr: "Douteuse"}}
      - {code: 3, label: {en: "Possible", fr: "Plausible"}}
      - {code: 4, label: {en: "Probable", fr: "Vraisemblable"}}
      - {code: 5, label: {en: "Certain", fr: "Très vraisemblable"}}
  - name: ae_outcome
    type: integer
    items:
      - {code: 1, label: {en: "Recovered / resolved", fr: "Résolu"}}
      - {code: 3, label: {en: "Not recovered / not resolved", fr: "Non résolu"}}
      - {code: 5, label: {en: "Fatal", fr: "Décès"}}
events:
"""
SAFETY_FORMS = """forms:
  - name: adverse_event
    label: {en: Adverse event, fr: Événement indésirable}
    repeating: true
    groups:
      - name: ae
        items:
          - {name: ae_term, sas_name: AETERM, type: text, label: {en: Term, fr: Terme}}
          - {name: ae_start, sas_name: AESTDTC, type: date, label: {en: Onset, fr: Début}}
          - {name: ae_end, sas_name: AEENDTC, type: date, label: {en: End, fr: Fin}}
          - {name: ae_grade, sas_name: AETOXGR, type: integer, range: {min: 1, max: 5}, label: {en: Grade, fr: Grade}}
          - {name: grave, sas_name: AESER, type: single_choice, code_list: yes_no, label: {en: Serious, fr: Grave}}
          - {name: ae_death, sas_name: AESDTH, type: single_choice, code_list: yes_no, label: {en: Death, fr: Décès}}
          - {name: ae_life, sas_name: AESLIFE, type: single_choice, code_list: yes_no, label: {en: Life-threatening, fr: Mise en jeu du pronostic vital}}
          - {name: ae_hosp, sas_name: AESHOSP, type: single_choice, code_list: yes_no, label: {en: Hospitalisation, fr: Hospitalisation}}
          - {name: ae_rel, sas_name: AEREL, type: single_choice, code_list: relatedness, label: {en: Causality, fr: Imputabilité}}
          - {name: ae_out, sas_name: AEOUT, type: single_choice, code_list: ae_outcome, label: {en: Outcome, fr: Évolution}}
  - name: conmed
    label: {en: Concomitant medication, fr: Traitement concomitant}
    repeating: true
    groups:
      - name: cm
        items:
          - {name: cm_name, sas_name: CMTRT, type: text, label: {en: Medication, fr: Médicament}}
          - {name: cm_start, sas_name: CMSTDTC, type: date, label: {en: Start, fr: Début}}
"""
TERM = "Febrile neutropenia"


@dataclass
class Safety:
    world: World
    subject: Subject
    nurse: User  # site data entry, site A
    investigator: User  # site A
    investigator_b: User  # site B
    vigilance: User  # pharmacovigilance, all sites
    data_manager: User  # all sites
    monitor: User  # site A

    def save_ae(
        self, base: int | None = None, *, repeat: int | None = None, **values: Any
    ) -> SaveOutcome:
        return form_save(
            actor=self.nurse,
            subject=self.subject,
            event="adverse_events",
            form="adverse_event",
            base_version=base,
            values=values,
            **({"repeat": repeat} if repeat else {}),
        )

    def serious_ae(self, **values: Any) -> SaeReport:
        """Record a grade 4 febrile neutropenia as serious; return its SAE report."""
        defaults: dict[str, Any] = {
            "ae_term": TERM,
            "ae_start": "2026-02-02",
            "ae_grade": 4,
            "grave": 1,
            "ae_life": 1,
            "ae_hosp": 1,
            "ae_rel": 3,
            "ae_out": 3,
        }
        outcome = self.save_ae(None, **{**defaults, **values})
        return SaeReport.objects.get(form_instance=outcome.form_instance)


def _amended(tmp_path: Path, extra: tuple[tuple[str, str], ...] = ()) -> Path:
    text = FIXTURE.read_text(encoding="utf-8")
    for old, new in (
        ("    forms: [vitals, lesions]\n", "    forms: [vitals, lesions, conmed]\n"),
        ("    forms: [lesions]\n", "    forms: [lesions, adverse_event]\n"),
        ("forms:\n  - name: vitals\n", SAFETY_FORMS + "  - name: vitals\n"),
        ("events:\n", CODE_LISTS),
        *extra,
    ):
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    amended = tmp_path / "mini.yaml"
    amended.write_text(text, encoding="utf-8")
    return amended


@pytest.fixture
def safety(tmp_path: Path) -> Safety:
    return safety_study(tmp_path)


def safety_study(tmp_path: Path, extra: tuple[tuple[str, str], ...] = ()) -> Safety:
    """Return the safety workflow's study and people, the YAML amended further by ``extra``
    (pairs of text found once and its replacement)."""
    w = world()
    study_load(
        actor=ADMIN,
        study_file=study_file_read(_amended(tmp_path, extra)),
        source_name="mini.yaml",
    )
    study_publish(actor=ADMIN, study=w.study)
    study_mode_change(actor=ADMIN, study=w.study, mode="production")
    w.study.refresh_from_db()
    nurse = person("julie", study=w.study, role=Role.DATA_ENTRY, sites=[w.site_a])
    on = date(2026, 1, 5)
    subject = subject_include(
        actor=nurse,
        study=w.study,
        site=w.site_a,
        included_on=on,
        eligibility={"baseline.weight": 70, "weight": 70, "packs": 0},
        consent=ConsentGiven(form_version="v1", consented_on=on),
    )
    form_save(
        actor=nurse,
        subject=subject,
        event="baseline",
        form="vitals",
        base_version=0,
        values={"weight": 70, "smoker": 1},
    )
    form_save(
        actor=nurse,
        subject=subject,
        event="baseline",
        form="conmed",
        base_version=None,
        values={"cm_name": "Paracetamol", "cm_start": "2026-01-10"},
    )
    return Safety(
        world=w,
        subject=subject,
        nurse=nurse,
        investigator=person("pierre", study=w.study, role=Role.INVESTIGATOR, sites=[w.site_a]),
        investigator_b=person("paul", study=w.study, role=Role.INVESTIGATOR, sites=[w.site_b]),
        vigilance=person("vera", study=w.study, role=Role.PHARMACOVIGILANCE),
        data_manager=person("dora", study=w.study, role=Role.DATA_MANAGER),
        monitor=person("sophie", study=w.study, role=Role.MONITOR, sites=[w.site_a]),
    )
