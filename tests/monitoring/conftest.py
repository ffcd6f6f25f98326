"""MINI amended so that weight is SDV-critical and a kit number reveals the arm, in production,
with its people: a nurse at each site, a monitor of site A only and one of site B only, a data
manager of every site and an unblinded statistician."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from carnet.accounts.models import User
from carnet.accounts.roles import Role
from carnet.accounts.services import token_create
from carnet.capture.models import FormInstance
from carnet.capture.services import SaveOutcome, form_save
from carnet.studies.definition import study_file_read
from carnet.studies.models import Study
from carnet.studies.services import study_load, study_mode_change, study_publish
from carnet.subjects.models import Subject
from carnet.subjects.services import ConsentGiven, subject_include
from tests.accounts.personas import ADMIN, FIXTURE, World, person, with_second_factor, world

KIT = "471147"
WEIGHT = "{name: weight, type: decimal,"
KIT_ITEM = (
    "          - {name: kit_number, type: text, flags: [arm_revealing],"
    " label: {en: Kit number, fr: Numéro de kit}}\n"
)
VS_DATE = "          - {name: vs_date, type: date,"


@dataclass
class Monitoring:
    world: World
    subject: Subject  # 01-001, at site A
    nurse: User  # site data entry at A
    nurse_b: User  # site data entry at B
    monitor: User  # monitor of site A only
    monitor_b: User  # monitor of site B only
    manager: User  # data manager of every site
    unblinded: User

    @property
    def study(self) -> Study:
        return self.world.study

    def include(self, site: str = "a", on: date = date(2026, 1, 5)) -> Subject:
        return subject_include(
            actor=self.nurse if site == "a" else self.nurse_b,
            study=self.study,
            site=self.world.site_a if site == "a" else self.world.site_b,
            included_on=on,
            eligibility={"baseline.weight": 70, "weight": 70, "packs": 0},
            consent=ConsentGiven(form_version="v1", consented_on=on),
        )

    def save(
        self, subject: Subject | None = None, form: str = "vitals", **kwargs: Any
    ) -> SaveOutcome:
        subject = subject or self.subject
        found = FormInstance.objects.filter(subject=subject, form=form).first()
        actor = kwargs.pop(
            "actor", self.nurse if subject.site == self.world.site_a else self.nurse_b
        )
        return form_save(
            actor=actor,
            subject=subject,
            event="baseline",
            form=form,
            base_version=found.version if found else 0,
            **kwargs,
        )

    def vitals(self, subject: Subject | None = None) -> SaveOutcome:
        return self.save(
            subject, values={"weight": 70, "height": 170, "sbp": 120, "dbp": 80, "kit_number": KIT}
        )

    def client(self, user: User) -> Client:
        """Return a browser signed in as the person (with their second factor, if enrolled)."""
        client = Client()
        client.force_login(user)
        device = TOTPDevice.objects.filter(user=user).first()
        if device is not None:
            session = client.session  # signed in with the second factor, as the sign-in page does
            session[DEVICE_ID_SESSION_KEY] = device.persistent_id
            session.save()
        return client

    def api(self, user: User) -> Client:
        _token, key = token_create(actor=ADMIN, user=user, study=self.study)
        return Client(headers={"authorization": f"Bearer {key}"})


@pytest.fixture
def monitoring(tmp_path: Path) -> Monitoring:
    text = FIXTURE.read_text(encoding="utf-8")
    assert text.count(WEIGHT) == 1
    assert text.count(VS_DATE) == 1
    text = text.replace(WEIGHT, "{name: weight, flags: [sdv_critical], type: decimal,")
    text = text.replace(VS_DATE, KIT_ITEM + VS_DATE)
    amended = tmp_path / "mini.yaml"
    amended.write_text(text, encoding="utf-8")
    w = world()
    study_load(actor=ADMIN, study_file=study_file_read(amended), source_name="mini.yaml")
    study_publish(actor=ADMIN, study=w.study)
    study_mode_change(actor=ADMIN, study=w.study, mode="production")
    w.study.refresh_from_db()
    nurse = person("julie", study=w.study, role=Role.DATA_ENTRY, sites=[w.site_a])
    m = Monitoring(
        world=w,
        subject=None,  # type: ignore[arg-type]
        nurse=nurse,
        nurse_b=person("marc", study=w.study, role=Role.DATA_ENTRY, sites=[w.site_b]),
        monitor=person("sophie", study=w.study, role=Role.MONITOR, sites=[w.site_a]),
        monitor_b=person("bruno", study=w.study, role=Role.MONITOR, sites=[w.site_b]),
        manager=with_second_factor(person("dana", study=w.study, role=Role.DATA_MANAGER)),
        unblinded=with_second_factor(
            person("ulla", study=w.study, role=Role.UNBLINDED_STATISTICIAN)
        ),
    )
    m.subject = m.include()
    return m
