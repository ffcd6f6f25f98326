"""The safety tests' study (adverse event and concomitant medication forms) with the
synthetic dictionaries loaded and the verbatim items named as coding targets, and a coder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from carnet.accounts.models import User
from carnet.accounts.roles import Role
from carnet.audit.services import SystemActor
from carnet.coding.models import CodingTarget, DictionaryVersion
from carnet.coding.services import coding_target_set, meddra_load, whodrug_load
from tests.accounts.personas import person
from tests.coding.dictionary import write_meddra, write_whodrug
from tests.safety.conftest import Safety, safety  # noqa: F401 (the fixture)

CLI = SystemActor("tests")


@dataclass
class Coding:
    safety: Safety
    meddra: DictionaryVersion
    whodrug: DictionaryVersion
    ae_target: CodingTarget
    cm_target: CodingTarget
    coder: User


@pytest.fixture
def coding(safety: Safety, tmp_path: Path) -> Coding:  # noqa: F811
    meddra = meddra_load(actor=CLI, folder=write_meddra(tmp_path / "meddra"), version="1.0")
    whodrug = whodrug_load(actor=CLI, folder=write_whodrug(tmp_path / "whodrug"), version="T1")
    study = safety.world.study
    ae = coding_target_set(
        actor=CLI, study=study, form="adverse_event", item="ae_term", dictionary=meddra
    )
    cm = coding_target_set(
        actor=CLI, study=study, form="conmed", item="cm_name", dictionary=whodrug
    )
    coder = person("cora", study=study, role=Role.CODER)
    return Coding(safety, meddra, whodrug, ae, cm, coder)
