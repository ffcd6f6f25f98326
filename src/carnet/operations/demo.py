"""The demo installation: what `carnet demo` loads, idempotently. Later issues extend it."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import transaction

from carnet.accounts.models import User
from carnet.accounts.services import user_create, user_set_password
from carnet.audit.services import SystemActor
from carnet.core.errors import ConfigurationError
from carnet.studies.definition import study_file_read
from carnet.studies.models import StudyMode
from carnet.studies.services import study_load, study_mode_change, study_publish

ADMIN_USERNAME = "admin"
PASSWORD_FILE = "demo-password"  # noqa: S105 (a file name, not a secret)
# The demo studies, in the order they are loaded.
DEMO_STUDY_FILES = ("maintain-crc.yaml", "simon-phase2.yaml")


def examples_dir() -> Path:
    """Return the folder of the demo studies: CARNET_EXAMPLES_DIR, or the clone's examples/."""
    configured = os.environ.get("CARNET_EXAMPLES_DIR")
    folder = (
        Path(configured)
        if configured
        else Path(__file__).resolve().parents[3] / "examples" / "studies"
    )
    if not all((folder / name).is_file() for name in DEMO_STUDY_FILES):
        raise ConfigurationError(
            f"The demo studies ({', '.join(DEMO_STUDY_FILES)}) are not in {folder}; set "
            "CARNET_EXAMPLES_DIR to the examples/studies folder of a Carnet clone."
        )
    return folder


@dataclass(frozen=True)
class DemoStudy:
    identifier: str
    version: int
    mode: str
    outcome: str


@dataclass(frozen=True)
class DemoAccount:
    username: str
    password: str
    created: bool


def _password_file() -> Path:
    return Path(settings.DATA_DIR) / PASSWORD_FILE


def demo_password(requested: str | None) -> str:
    """Return the demo password: the one asked for, the one kept in the data directory, or new."""
    if requested:
        return requested
    kept = _password_file()
    if kept.exists():
        return kept.read_text(encoding="utf-8").strip()
    # Long enough for the password rules, readable enough to type.
    return "-".join(secrets.token_hex(3) for _ in range(4))


@transaction.atomic
def demo_load(*, actor: SystemActor, password: str | None = None) -> list[DemoAccount]:
    """Create the demo accounts that do not exist yet; set their password when one is given."""
    chosen = demo_password(password)
    accounts = []
    admin = User.objects.filter(username=ADMIN_USERNAME).first()
    if admin is None:
        user_create(
            actor=actor,
            username=ADMIN_USERNAME,
            password=chosen,
            full_name="Demo administrator",
            is_administrator=True,
        )
        accounts.append(DemoAccount(ADMIN_USERNAME, chosen, created=True))
    else:
        if password or not admin.check_password(chosen):
            user_set_password(actor=actor, user=admin, password=chosen)
        accounts.append(DemoAccount(ADMIN_USERNAME, chosen, created=False))
    # Kept so that `make run` can tell the same password every time; demo data only.
    kept = _password_file()
    kept.write_text(chosen + "\n", encoding="utf-8")
    kept.chmod(0o600)
    return accounts


@transaction.atomic
def demo_studies_load(*, actor: SystemActor) -> list[DemoStudy]:
    """Load, publish and open for production the demo studies; a second run changes nothing."""
    loaded = []
    for name in DEMO_STUDY_FILES:
        path = examples_dir() / name
        outcome = study_load(actor=actor, study_file=study_file_read(path), source_name=name)
        study = outcome.study
        if outcome.version.status == "draft":
            study_publish(actor=actor, study=study)
            study.refresh_from_db()
        if study.mode == StudyMode.DESIGN:
            study = study_mode_change(actor=actor, study=study, mode=StudyMode.PRODUCTION)
        assert study.current_version is not None
        loaded.append(
            DemoStudy(study.identifier, study.current_version.number, study.mode, outcome.outcome)
        )
    return loaded
