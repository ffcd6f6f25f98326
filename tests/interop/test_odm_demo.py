"""The ODM exports of both demo studies (MAINTAIN-CRC, ACC-209) validate against the official
schema, blinded and unblinded, snapshot and transactional."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from lxml import etree

from carnet.audit.services import SystemActor
from carnet.demo import demo_load, demo_patients_load, demo_studies_load
from carnet.interop.odm.export import odm_write
from carnet.interop.services import cutoff_create
from carnet.studies.models import Study
from tests.interop.test_odm_export import NS, official_schema

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

TODAY = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)


def test_the_odm_exports_of_both_demo_studies_are_valid_against_the_official_schema(
    system_actor: SystemActor,
) -> None:
    with time_machine.travel(TODAY - timedelta(hours=1), tick=True):
        demo_load(actor=system_actor, password="a long demo password")
        demo_studies_load(actor=system_actor)
    with time_machine.travel(TODAY, tick=True):
        demo_patients_load(actor=system_actor, phase3=6, phase2=4)
    for identifier in ("MAINTAIN-CRC", "ACC-209"):
        exports_are_valid(system_actor, Study.objects.get(identifier=identifier))


def exports_are_valid(system_actor: SystemActor, study: Study) -> None:
    cutoff = cutoff_create(actor=system_actor, study=study, name="ODM", reason="ODM check")
    schema = official_schema()
    for mode in ("snapshot", "transactional"):
        for unblinded in (False, True):
            target = io.BytesIO()
            made = odm_write(
                actor=system_actor,
                study=study,
                cutoff=cutoff,
                target=target,
                mode=mode,
                unblinded=unblinded,
            )
            root = etree.fromstring(target.getvalue())
            assert schema.validate(root), [str(e) for e in schema.error_log][:5]
            assert made.subjects > 0
            assert made.values == len(root.findall(".//odm:ItemData", NS))
            revealing = {
                item.oid
                for version in study.versions.all()
                for _form, _group, item in version.parsed().items()
                if item.arm_revealing
            }
            written = {item.get("ItemOID") for item in root.iterfind(".//odm:ItemDef", NS)}
            if not unblinded:
                assert not revealing & written
