"""MINI with a pharmacy in kits mode, in production, and its people: the pharmacist of each
site, a nurse and a monitor of site A, the sponsor's supply manager (project manager, blinded),
an unblinded statistician; a released batch at the depot."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
from django.test import Client
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from carnet.accounts.models import StudySite, User
from carnet.accounts.roles import Role
from carnet.accounts.services import token_create
from carnet.core.hashing import sha256_hex
from carnet.pharmacy.models import Batch, Shipment
from carnet.pharmacy.shipments import shipment_create, shipment_send
from carnet.pharmacy.supply import batch_create, kits_import
from carnet.studies.definition import study_file_read
from carnet.studies.models import Study
from carnet.studies.services import study_load, study_mode_change, study_publish
from tests.accounts.personas import ADMIN, FIXTURE, World, person, with_second_factor, world

MINI = FIXTURE.read_text(encoding="utf-8")
DESIGN = "  design: {allocation: randomised, blinding: double-blind,"
PHARMACY = """
    pharmacy:
      mode: kits
      products:
        - code: capecitabine
          name: {en: Capecitabine 500 mg, fr: Capécitabine 500 mg}
          presentation: tablet
          unit: tablet
          storage: "15-25 °C"
          per_kit: 60
      dispensing:
        - {event: baseline, product: capecitabine, kits: 1}
        - {event: cycle, product: capecitabine}
      resupply: {minimum_per_content: 3, horizon_weeks: 6}
"""
TODAY = date(2026, 3, 2)


def with_pharmacy(pharmacy: str = PHARMACY, text: str = MINI) -> str:
    """Return the mini study with its flow-style design turned into a block holding pharmacy."""
    line = next(line for line in text.splitlines() if line.startswith(DESIGN))
    inner = line.removeprefix("  design: {").removesuffix("}")
    randomisation = inner[inner.index("randomisation:") :]
    block = (
        "  design:\n    allocation: randomised\n    blinding: double-blind\n"
        f"    {randomisation}" + pharmacy.rstrip("\n")
    )
    return text.replace(line, block, 1)


def kit_list(*rows: str) -> bytes:
    return ("kit,batch,content,expiry\n" + "".join(row + "\n" for row in rows)).encode()


def checksum(content: bytes) -> str:
    return f"{sha256_hex(content)}  kits.csv\n"


@dataclass
class Pharmacy:
    world: World
    pharmacist: User  # pharmacist of site A (01)
    pharmacist_b: User  # pharmacist of site B (02)
    nurse: User  # data entry at A
    monitor: User  # monitor of A
    supply: User  # the sponsor's project manager, every site: MANAGE_SUPPLY, blinded
    unblinded: User  # unblinded statistician
    batch: Batch

    @property
    def study(self) -> Study:
        return self.world.study

    @property
    def site_a(self) -> StudySite:
        return self.world.site_a

    def import_kits(self, *rows: str) -> int:
        content = kit_list(*rows)
        return kits_import(
            actor=self.supply,
            study=self.study,
            content=content,
            checksum=checksum(content),
            file_name="kits.csv",
        )

    def stock(self, count: int = 6) -> list[str]:
        """Import ``count`` kits (K001…, arms alternating) and return their numbers."""
        numbers = [f"K{i:03}" for i in range(1, count + 1)]
        arms = ["experimental", "placebo"]
        self.import_kits(*(f"{n},B1,{arms[i % 2]}," for i, n in enumerate(numbers)))
        return numbers

    def shipment(self, numbers: list[str], site: StudySite | None = None) -> Shipment:
        shipment = shipment_create(
            actor=self.supply,
            study=self.study,
            site=site or self.site_a,
            numbers=numbers,
            today=TODAY,
        )
        return shipment_send(actor=self.supply, shipment=shipment)

    def client(self, user: User) -> Client:
        client = Client()
        client.force_login(user)
        device = TOTPDevice.objects.filter(user=user).first()
        if device is not None:
            session = client.session
            session[DEVICE_ID_SESSION_KEY] = device.persistent_id
            session.save()
        return client

    def api(self, user: User) -> Client:
        _token, key = token_create(actor=ADMIN, user=user, study=self.study)
        return Client(headers={"authorization": f"Bearer {key}"})


def pharmacy_world(tmp_path: Path) -> Pharmacy:
    amended = tmp_path / "mini.yaml"
    amended.write_text(with_pharmacy(), encoding="utf-8")
    w = world()
    study_load(actor=ADMIN, study_file=study_file_read(amended), source_name="mini.yaml")
    study_publish(actor=ADMIN, study=w.study)
    study_mode_change(actor=ADMIN, study=w.study, mode="production")
    w.study.refresh_from_db()
    supply = person("pam", study=w.study, role=Role.PROJECT_MANAGER)
    return Pharmacy(
        world=w,
        pharmacist=person("phil", study=w.study, role=Role.PHARMACIST, sites=[w.site_a]),
        pharmacist_b=person("paula", study=w.study, role=Role.PHARMACIST, sites=[w.site_b]),
        nurse=person("julie", study=w.study, role=Role.DATA_ENTRY, sites=[w.site_a]),
        monitor=person("sophie", study=w.study, role=Role.MONITOR, sites=[w.site_a]),
        supply=supply,
        unblinded=with_second_factor(
            person("ulla", study=w.study, role=Role.UNBLINDED_STATISTICIAN)
        ),
        batch=batch_create(
            actor=supply,
            study=w.study,
            product="capecitabine",
            number="B1",
            expiry=date(2027, 6, 30),
            released_on=date(2026, 1, 15),
        ),
    )


@pytest.fixture
def pharmacy(tmp_path: Path) -> Pharmacy:
    return pharmacy_world(tmp_path)
