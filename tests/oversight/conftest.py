"""MINI in production with a subject at site A and the people of oversight: the site's data
entry (nurse) and investigator, an investigator of site B, a data manager of every site, a
monitor, an inspector for the study (a read-only role with a period) and a blinded and an
unblinded statistician."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from carnet.accounts.models import User
from carnet.accounts.roles import Role
from carnet.capture.models import FormInstance
from carnet.capture.services import SaveOutcome, form_save
from carnet.oversight.models import DataLock
from carnet.oversight.services import Place, data_lock
from tests.accounts.personas import person, with_second_factor
from tests.capture.conftest import Capture
from tests.capture.conftest import capture as capture

PASSWORD = "a long test password"  # tests.accounts.factories' password


@dataclass
class Oversight:
    capture: Capture
    entry: User  # the nurse: site data entry at A
    investigator: User  # at A
    investigator_b: User  # at B only
    manager: User  # data manager of every site
    monitor: User  # monitor of A and B
    inspector: User  # inspector of the study
    statistician: User  # blinded, every site
    unblinded: User  # unblinded statistician

    @property
    def subject(self):  # type: ignore[no-untyped-def]
        return self.capture.subject

    @property
    def study(self):  # type: ignore[no-untyped-def]
        return self.capture.subject.study

    def save(self, form: str = "vitals", **kwargs: Any) -> SaveOutcome:
        found = FormInstance.objects.filter(subject=self.subject, form=form).first()
        return form_save(
            actor=kwargs.pop("actor", self.entry),
            subject=self.subject,
            event="baseline",
            form=form,
            base_version=found.version if found else 0,
            **kwargs,
        )

    def lock(self, scope: str = "form", form: str = "vitals", reason: str = "cleaned") -> DataLock:
        return data_lock(
            actor=self.manager,
            study=self.study,
            place=Place(
                scope=scope,
                site=self.subject.site,
                subject=self.subject,
                event="baseline",
                occurrence=1,
                form=form,
            ),
            reason=reason,
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


@pytest.fixture
def oversight(capture: Capture) -> Oversight:
    w = capture.world
    return Oversight(
        capture=capture,
        entry=capture.entry,
        investigator=person("irene", study=w.study, role=Role.INVESTIGATOR, sites=[w.site_a]),
        investigator_b=person("ivan", study=w.study, role=Role.INVESTIGATOR, sites=[w.site_b]),
        manager=with_second_factor(person("dana", study=w.study, role=Role.DATA_MANAGER)),
        monitor=capture.monitor,
        inspector=person("ines", study=w.study, role=Role.INSPECTOR),
        statistician=person("stan", study=w.study, role=Role.STATISTICIAN),
        unblinded=with_second_factor(
            person("ulla", study=w.study, role=Role.UNBLINDED_STATISTICIAN)
        ),
    )
