"""The `carnet` command as a newcomer meets it: the first command works on an empty data
directory, a database nobody migrated is named as such, and a reader that stops early (`| head`)
ends the command quietly. It offers Carnet's own commands plus `migrate` and `check`: Django's
writing commands are unknown, and every write it can do is in the audit trail."""

from __future__ import annotations

import argparse
import io
import re
import shlex
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest
from django.core.management import call_command, get_commands, load_command_class
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.db.models import Max

from carnet import cli
from carnet.audit.models import AuditEvent
from carnet.audit.services import SystemActor
from carnet.audit.verification import audit_verify
from carnet.core.hashing import sha256_of_file
from tests.conftest import REPOSITORY, Installation, carnet_executable

PASSWORD = "a long demo password"


@pytest.mark.slow
def test_the_demo_on_an_empty_data_directory_migrates_first(make_installation) -> None:  # type: ignore[no-untyped-def]
    site: Installation = make_installation(migrate=False)
    result = site.run("demo", "--no-patients", "--password", PASSWORD)
    assert result.stdout.startswith("Migrating the database (")
    assert "Demo loaded." in result.stdout
    assert result.stderr == ""
    again = site.run("demo", "--no-patients")
    assert "Migrating" not in again.stdout
    # What the demo writes goes through the services: the trail names the command.
    assert " carnet demo (system account " in site.run("audit", "log", "--limit", "1").stdout


@pytest.mark.slow
def test_a_database_nobody_migrated_is_named_as_such(make_installation) -> None:  # type: ignore[no-untyped-def]
    site: Installation = make_installation(migrate=False)
    result = site.run("user", "list", check=False)
    assert result.returncode == 4
    assert "Traceback" not in result.stderr
    [line] = result.stderr.splitlines()
    assert "is not migrated (" in line
    assert line.endswith("run `carnet migrate` first.")


@pytest.mark.slow
def test_a_reader_that_stops_early_ends_the_command_quietly(make_installation) -> None:  # type: ignore[no-untyped-def]
    site: Installation = make_installation(migrate=False)
    site.run("demo", "--no-patients", "--password", PASSWORD)
    # `head -n 0` leaves before the command writes anything: every write meets a closed pipe.
    command = f"{shlex.quote(carnet_executable())} study show MAINTAIN-CRC | head -n 0"
    result = subprocess.run(
        ["bash", "-c", f"set -o pipefail; {command}"],
        env=site.environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.stderr == ""
    assert result.returncode == 141  # as a shell reports a command ended by SIGPIPE


@pytest.mark.slow
def test_the_local_profile_shows_carnets_own_error_pages_unless_debug_is_asked(
    make_installation,  # type: ignore[no-untyped-def]
) -> None:
    site: Installation = make_installation(migrate=False)
    code = (
        "from django.conf import settings; from django.test import Client\n"
        "answer = Client().get('/no-such-page/', HTTP_HOST='127.0.0.1')\n"
        "print(settings.DEBUG, answer.status_code, b'Using the URLconf' in answer.content, "
        "b'Back to the home page' in answer.content)\n"
    )
    plain = site.python(code)
    assert plain.communicate(timeout=120)[0].split() == ["False", "404", "False", "True"]
    site.environment["CARNET_DEBUG"] = "1"
    debug = site.python(code)
    assert debug.communicate(timeout=120)[0].split()[:3] == ["True", "404", "True"]


# --- the allow-list: Carnet's own commands, migrate forward only, and the read-only checks -----

# Django's writing commands, and the Carnet command each refusal names instead.
REFUSED = {
    "createsuperuser": "`carnet user create NAME --admin",
    "changepassword": "`carnet user password NAME",
    "axes_reset": "`carnet user unlock NAME",
    "axes_reset_username": "`carnet user unlock NAME",
    "flush": "`carnet restore FILE`",
    "loaddata": "`carnet study load FILE`",
    "shell": "`carnet help`",
    "dbshell": "`carnet help`",
}


@pytest.fixture
def english(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run the command in a terminal set to English, whatever the machine's locale."""
    for variable in ("LC_ALL", "LC_MESSAGES"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("LANG", "C.UTF-8")


@pytest.mark.parametrize("command", sorted(REFUSED))
def test_djangos_writing_commands_are_unknown_and_name_carnets_equivalent(
    command: str, english: None, capsys: pytest.CaptureFixture[str]
) -> None:
    # No database access here: the command is refused before anything is opened.
    assert cli.main(["carnet", command, "--noinput"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    [line] = captured.err.splitlines()
    assert line.startswith(f"carnet: `carnet {command}` is not a Carnet command")
    assert REFUSED[command] in line


def test_every_installed_command_outside_the_allow_list_is_refused(
    english: None, capsys: pytest.CaptureFixture[str]
) -> None:
    installed = get_commands()
    allowed = set(cli.CARNET_COMMANDS) | set(cli.DJANGO_COMMANDS)
    carnets_own = {name for name, app in installed.items() if app.startswith("carnet.")}
    assert carnets_own <= allowed, "a Carnet command missing from the allow-list"
    for name in sorted(set(installed) - allowed):
        assert cli.main(["carnet", name]) == 1, name
        assert "is not a Carnet command" in capsys.readouterr().err
        assert cli.main(["carnet", "help", name]) == 1, name
        capsys.readouterr()


def test_the_refusal_speaks_the_terminals_language(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("LC_ALL", raising=False)
    monkeypatch.delenv("LC_MESSAGES", raising=False)
    monkeypatch.setenv("LANG", "fr_FR.UTF-8")
    assert cli.main(["carnet", "createsuperuser"]) == 1
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("carnet: `carnet createsuperuser` n'est pas une commande de Carnet")
    assert "`carnet user create NOM --admin" in line
    monkeypatch.setenv("LC_ALL", "en_GB.UTF-8")  # LC_ALL wins over LANG, as in every program
    assert cli.main(["carnet", "flush"]) == 1
    assert "is not a Carnet command" in capsys.readouterr().err


@pytest.mark.parametrize("arguments", [[], ["help"], ["--help"]])
def test_carnet_help_lists_only_the_commands_it_offers(
    arguments: list[str], english: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["carnet", *arguments]) == 0
    out = capsys.readouterr().out
    listed = {line.split()[0] for line in out.splitlines() if line.startswith("  ")}
    installed = set(get_commands())
    offered = {name for name in cli.CARNET_COMMANDS if name in installed}
    assert listed == offered | {"migrate", "check", "check-deploy"}
    assert "createsuperuser" not in out


def test_carnet_help_on_one_of_its_commands_shows_its_options(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert cli.main(["carnet", "help", "user"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^ +password +Set a person's password", out, re.M)
    assert re.search(r"^ +unlock +Lift the sign-in lock", out, re.M)


@pytest.mark.django_db
@pytest.mark.parametrize("target", [["audit", "zero"], ["audit", "0001"], ["accounts", "0001"]])
def test_migrate_only_goes_forward(
    target: list[str], english: None, capsys: pytest.CaptureFixture[str]
) -> None:
    # Going back would drop, among others, the triggers that keep the audit trail append-only.
    assert cli.main(["carnet", "migrate", *target]) == 1
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("carnet: `carnet migrate` only goes forward")
    assert "`carnet restore FILE`" in line
    executor = MigrationExecutor(connection)
    assert executor.migration_plan(executor.loader.graph.leaf_nodes()) == []


@pytest.mark.django_db
@pytest.mark.parametrize("flag", ["--fake", "--fake-initial", "--prune"])
def test_migrate_refuses_to_mark_or_forget_migrations_without_running_them(
    flag: str, english: None, capsys: pytest.CaptureFixture[str]
) -> None:
    # --fake would record as applied a migration that never ran (the audit triggers among them);
    # --prune forgets applied ones: either leaves the schema and its record apart.
    assert cli.main(["carnet", "migrate", flag]) == 1
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith(f"carnet: `carnet migrate {flag}` is refused")


def test_carnet_version_is_carnets_not_djangos(capsys: pytest.CaptureFixture[str]) -> None:
    from carnet import __version__

    assert cli.main(["carnet", "--version"]) == 0
    assert capsys.readouterr().out.strip() == f"carnet {__version__}"


@pytest.mark.slow
def test_createsuperuser_and_flush_change_nothing(make_installation) -> None:  # type: ignore[no-untyped-def]
    site: Installation = make_installation()
    site.environment.update(
        DJANGO_SUPERUSER_USERNAME="mallory",
        DJANGO_SUPERUSER_PASSWORD=PASSWORD,
        DJANGO_SUPERUSER_EMAIL="mallory@example.org",
    )
    created = site.run("createsuperuser", "--noinput", check=False)
    assert created.returncode == 1
    assert "`carnet user create NAME --admin" in created.stderr
    flushed = site.run("flush", "--noinput", check=False)
    assert flushed.returncode == 1
    assert "`carnet restore FILE`" in flushed.stderr
    assert site.run("user", "list").stdout == ""
    assert site.run("audit", "log").stdout == ""


# --- every write the command line can do is in the audit trail -------------------------------

FIXTURE = REPOSITORY / "tests" / "studies" / "fixtures" / "mini.yaml"
NEW_PASSWORD = "another long test password"


@dataclass(frozen=True)
class Write:
    """One writing command, what it reads on standard input and the reason it gives."""

    arguments: tuple[str, ...]
    reason: str = ""
    stdin: str = ""
    # A change of a study's mode is the signer's act: the trail names the person, not the command.
    signer: str = ""
    # Made through the services first (not the command's act): returns placeholders' values.
    before: Callable[[], dict[str, str]] | None = None


def _patient_at_site_01() -> dict[str, str]:
    """Include a patient at MINI's site 01, whose paper allocation the command records."""
    from carnet.accounts.models import StudySite
    from carnet.accounts.roles import Role
    from carnet.core.clock import utc_now
    from carnet.studies.models import Study
    from carnet.subjects.services import ConsentGiven, subject_include
    from tests.accounts.personas import person

    study = Study.objects.get(identifier="MINI")
    site = StudySite.objects.get(study=study, code="01")
    now = utc_now()
    subject = subject_include(
        actor=person("irene", study=study, role=Role.INVESTIGATOR, sites=[site]),
        study=study,
        site=site,
        included_on=now.date() - timedelta(days=1),
        eligibility={"weight": 70, "packs": 0},
        consent=ConsentGiven(form_version="v1", consented_on=now.date() - timedelta(days=1)),
    )
    return {"{subject}": subject.identifier, "{moment}": (now - timedelta(hours=1)).isoformat()}


def _sample_at_site_01() -> dict[str, str]:
    """Create a plasma sample (4 mL) of MINI's first subject at site 01, as collected."""
    from decimal import Decimal

    from carnet.biobank.models import Sample
    from carnet.core.clock import utc_now
    from carnet.subjects.models import Subject

    subject = Subject.objects.filter(study__identifier="MINI", site__code="01").first()
    assert subject is not None
    now = utc_now()
    Sample.objects.create(
        study=subject.study,
        environment=subject.environment,
        subject=subject,
        site=subject.site,
        identifier="CLI-PL01",
        sample_type="plasma",
        volume=Decimal(4),
        unit="mL",
        created_at=now,
        created_by="nurse",
        updated_at=now,
    )
    return {}


def _dictionaries() -> dict[str, str]:
    """Write the synthetic dictionaries of the coding tests (no MedDRA or WHODrug content)."""
    import tempfile

    from tests.coding.dictionary import write_meddra, write_whodrug

    folder = Path(tempfile.mkdtemp())
    return {
        "{meddra}": str(write_meddra(folder / "meddra")),
        "{whodrug}": str(write_whodrug(folder / "whodrug")),
    }


def _vitals_csv() -> dict[str, str]:
    """Return a CSV of vital signs for the subject included at site 01 (bulk import)."""
    import tempfile

    from carnet.subjects.models import Subject

    subject = Subject.objects.filter(study__identifier="MINI").order_by("pk").first()
    assert subject is not None
    path = Path(tempfile.mkdtemp()) / "vitals.csv"
    path.write_text(f"subject;event;weight\n{subject.identifier};baseline;70,5\n", encoding="utf-8")
    return {"{vitals_csv}": str(path)}


def _biobank_lims_samples() -> dict[str, str]:
    """Return a LIMS CSV of two samples of the subject included at site 01."""
    import tempfile

    from carnet.subjects.models import Subject

    subject = Subject.objects.filter(study__identifier="MINI").order_by("pk").first()
    assert subject is not None
    path = Path(tempfile.mkdtemp()) / "samples.csv"
    path.write_text(
        "identifier,subject,site,sample_type,volume,unit\n"
        f"CLI-1,{subject.identifier},01,plasma,0.5,mL\n"
        f"CLI-2,{subject.identifier},01,plasma,0.5,mL\n",
        encoding="utf-8",
    )
    return {"{biobank_csv}": str(path)}


def _biobank_withdrawal() -> dict[str, str]:
    """The subject of site 01 gives, then withdraws, the biobank consent (through subjects)."""
    from carnet.core.clock import utc_today
    from carnet.subjects.models import Subject
    from carnet.subjects.services import consent_record

    subject = Subject.objects.filter(study__identifier="MINI").order_by("pk").first()
    assert subject is not None
    actor = SystemActor.command_line("test setup")
    for biobank in (True, False):
        consent_record(
            actor=actor,
            subject=subject,
            form_version="v2",
            consented_on=utc_today(),
            biobank=biobank,
        )
    return {}


def _vitals_odm() -> dict[str, str]:
    """Return an ODM 1.3.2 file of vital signs for the subject included at site 01."""
    import tempfile

    from carnet.subjects.models import Subject

    subject = Subject.objects.filter(study__identifier="MINI").order_by("pk").first()
    assert subject is not None
    path = Path(tempfile.mkdtemp()) / "vitals.xml"
    path.write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<ODM xmlns="http://www.cdisc.org/ns/odm/v1.3" FileOID="F" FileType="Snapshot" '
        'CreationDateTime="2026-01-06T10:00:00" ODMVersion="1.3.2">'
        '<ClinicalData StudyOID="S.MINI" MetaDataVersionOID="MDV.1">'
        f'<SubjectData SubjectKey="{subject.identifier}">'
        '<StudyEventData StudyEventOID="SE.BASELINE"><FormData FormOID="F.VITALS">'
        '<ItemGroupData ItemGroupOID="IG.VS"><ItemData ItemOID="I.WEIGHT" Value="72"/>'
        "</ItemGroupData></FormData></StudyEventData></SubjectData></ClinicalData></ODM>\n",
        encoding="utf-8",
    )
    return {"{vitals_odm}": str(path)}


def _redcap_records() -> dict[str, str]:
    """Return REDCap records (JSON) for the subject included at site 01 (REDCap migration)."""
    import json
    import tempfile

    from carnet.subjects.models import Subject

    subject = Subject.objects.filter(study__identifier="MINI").order_by("pk").first()
    assert subject is not None
    path = Path(tempfile.mkdtemp()) / "records.json"
    rows = [{"record_id": subject.identifier, "redcap_event_name": "baseline_arm_1", "sbp": "128"}]
    path.write_text(json.dumps(rows), encoding="utf-8")
    return {"{redcap_records}": str(path)}


def _pharmacy_study() -> dict[str, str]:
    """Load PHARMA (MINI with a pharmacy in kits mode) with site 01, and its kit list."""
    import tempfile

    from carnet.accounts.models import Centre
    from carnet.accounts.services import site_activate, site_add
    from carnet.core.hashing import sha256_hex
    from carnet.studies.definition import study_file_read
    from carnet.studies.services import study_load, study_publish
    from tests.accounts.personas import ADMIN
    from tests.pharmacy.conftest import with_pharmacy

    directory = Path(tempfile.mkdtemp())
    path = directory / "pharma.yaml"
    text = with_pharmacy(text=FIXTURE.read_text(encoding="utf-8"))
    path.write_text(text.replace("identifier: MINI", "identifier: PHARMA", 1), encoding="utf-8")
    study = study_load(actor=ADMIN, study_file=study_file_read(path), source_name="pharma.yaml")
    study_publish(actor=ADMIN, study=study.study)
    site = site_add(actor=ADMIN, study=study.study, centre=Centre.objects.get(code="ICM"))
    site_activate(actor=ADMIN, site=site, on=date(2025, 1, 15))
    kits = directory / "kits.csv"
    kits.write_bytes(b"kit,batch,content,expiry\nP001,B1,experimental,\nP002,B1,placebo,\n")
    (directory / "kits.csv.sha256").write_text(f"{sha256_hex(kits.read_bytes())}  kits.csv\n")
    return {"{pharmacy_kits}": str(kits), "{pharmacy_labels}": str(directory / "labels.csv")}


def _pharmacy_excursion() -> dict[str, str]:
    from carnet.pharmacy.models import Excursion

    return {"{excursion}": str(Excursion.objects.get().pk)}


def _dispensing_study() -> dict[str, str]:
    from tests.pharmacy.dispensing_world import cli_study

    return cli_study()


def _biobank_samples() -> dict[str, str]:
    """Publish a version of MINI expecting a plasma at baseline (an amendment through the
    services, not the command's act), for the subject included at site 01."""
    import tempfile

    from carnet.studies.definition import study_file_read
    from carnet.studies.models import Study
    from carnet.studies.services import study_load, study_publish
    from carnet.subjects.models import Subject
    from tests.accounts.personas import ADMIN
    from tests.biobank.conftest import BASELINE_FORMS, SAMPLES

    study = Study.objects.get(identifier="MINI")
    assert study.current_version is not None
    text = study.current_version.source_text.replace(BASELINE_FORMS, BASELINE_FORMS + SAMPLES)
    path = Path(tempfile.mkdtemp()) / "mini.yaml"
    path.write_text(text, encoding="utf-8")
    study_load(actor=ADMIN, study_file=study_file_read(path), source_name="mini.yaml")
    study_publish(actor=ADMIN, study=study)
    subject = Subject.objects.filter(study=study).order_by("pk").first()
    assert subject is not None
    return {
        "{sample_subject}": subject.identifier,
        "{sample}": f"MINI-{subject.identifier}-PLASMA-1",
        "{collected}": subject.included_on.isoformat() + "T09:00+01:00",
        "{spun}": subject.included_on.isoformat() + "T09:40+01:00",
        "{spun_end}": subject.included_on.isoformat() + "T09:50+01:00",
    }


def _mini_locked() -> dict[str, str]:
    """Lock MINI's database through the services: every open item waived, four signatures."""
    from carnet.accounts.roles import Role
    from carnet.database_lock.selectors import checklist_state
    from carnet.database_lock.services import checklist_waive, database_lock_sign
    from carnet.studies.models import Study
    from tests.accounts.personas import person

    study = Study.objects.get(identifier="MINI")
    signers = [
        person(name, study=study, role=role)
        for name, role in (
            ("lockdm", Role.DATA_MANAGER),
            ("lockstat", Role.STATISTICIAN),
            ("lockci", Role.COORDINATING_INVESTIGATOR),
            ("locksponsor", Role.SPONSOR),
        )
    ]
    for state in checklist_state(study):
        if state.blocking:
            checklist_waive(actor=signers[0], study=study, item=state.key, reason="the table")
    for signer in signers:
        database_lock_sign(
            actor=signer,
            study=study,
            password="a long test password",
            meaning="I authorise this database lock.",
        )
    return {}


WRITES = [
    Write(("study", "load", str(FIXTURE))),
    Write(("study", "publish", "MINI")),
    # Versions 2 and 3 allocate by permuted blocks: one list generated, then one imported.
    Write(("study", "load", "{blocks}")),
    Write(("study", "publish", "MINI")),
    Write(("randomization", "generate", "MINI", "--per-stratum", "4")),
    Write(("study", "load", "{blocks4}")),
    Write(("study", "publish", "MINI")),
    Write(("randomization", "import", "MINI", "{list}", "--sha256", "{list_sha256}")),
    Write(("centre", "add", "ICM", "--name", "Institut du Cancer de Montpellier")),
    Write(("site", "add", "MINI", "ICM")),
    Write(("site", "activate", "MINI", "01", "--date", "2025-01-15")),
    Write(("randomization", "kits", "MINI", "{kits}")),
    Write(("lab", "ranges", "load", "MINI", "{lab_ranges}")),
    Write(
        ("user", "create", "dora", "--full-name", "Dora", "--password-stdin", "--reason", "DM"),
        reason="DM",
        stdin=PASSWORD,
    ),
    Write(
        ("user", "create", "root", "--admin", "--no-password", "--reason", "second administrator"),
        reason="second administrator",
    ),
    Write(
        ("user", "password", "dora", "--password-stdin", "--reason", "forgotten"),
        reason="forgotten",
        stdin=NEW_PASSWORD,
    ),
    Write(("user", "unlock", "dora", "--reason", "help desk call"), reason="help desk call"),
    Write(("role", "grant", "dora", "MINI", "all", "data_manager")),
    Write(("token", "create", "dora", "MINI", "--label", "scripts")),
    Write(("token", "revoke", "{token}", "--reason", "leaked"), reason="leaked"),
    Write(
        (
            *("study", "mode", "MINI", "production", "--reason", "go live"),
            *("--signer", "dora", "--password-stdin"),
        ),
        reason="go live",
        stdin=NEW_PASSWORD,
        signer="dora (Dora)",
    ),
    # The database lock, signed by the data manager (nothing to clear yet), then lifted.
    Write(
        ("dblock", "sign", "MINI", "--signer", "dora", "--password-stdin"),
        stdin=NEW_PASSWORD,
        signer="dora (Dora)",
    ),
    Write(
        (
            *("dblock", "unlock", "MINI", "--signer", "dora", "--password-stdin"),
            *("--reason", "signed too early"),
        ),
        reason="signed too early",
        stdin=NEW_PASSWORD,
        signer="dora (Dora)",
    ),
    # The outage procedure, in production: site 01's envelopes, one found opened, one used.
    Write(("randomization", "backup", "MINI", "--site", "01", "--per-stratum", "2")),
    Write(
        (
            *("randomization", "opened", "MINI", "E01-0002"),
            *("--at", "2026-01-05T10:00+01:00", "--note", "seal broken"),
        ),
        reason="seal broken",
    ),
    Write(
        (
            *("randomization", "paper", "MINI", "{subject}", "--envelope", "E01-0001"),
            *("--at", "{moment}", "--by", "Dr Irene Martin", "--reason", "network down"),
        ),
        reason="network down",
        before=_patient_at_site_01,
    ),
    # Locks of a site's data (oversight): added, then lifted, each with a reason.
    Write(("lock", "add", "MINI", "--site", "01", "--reason", "site closed"), reason="site closed"),
    Write(
        ("lock", "lift", "MINI", "--site", "01", "--reason", "site reopened"),
        reason="site reopened",
    ),
    # Printing the envelopes (they hold the arms) is audited.
    Write(("randomization", "envelopes", "MINI", "--site", "01", "--output", "{envelopes}")),
    Write(("schedule", "rebuild", "MINI")),
    Write(("cutoff", "create", "MINI", "DSMB-1", "--reason", "first DSMB"), reason="first DSMB"),
    Write(("export", "MINI", "--cutoff", "DSMB-1", "--output", "{export}", "--quiet")),
    # Taking a site's casebooks out (a zip of PDFs) is an export, audited.
    Write(("casebook", "MINI", "--site", "01", "--output", "{casebook}", "--quiet")),
    Write(("checks", "run", "MINI", "--reason", "monthly review"), reason="monthly review"),
    Write(
        (
            *("queries", "settings", "MINI", "--set", "auto_close=off"),
            *("--set", "daily_digest=on", "--reason", "a person closes them"),
        ),
        reason="a person closes them",
    ),
    Write(
        ("import", "MINI", "{vitals_csv}", "--reason", "paper CRF migration"),
        reason="paper CRF migration",
        before=_vitals_csv,
    ),
    Write(
        ("import", "settings", "MINI", "--creates-subjects", "on", "--reason", "a migration"),
        reason="a migration",
    ),
    # The casebook imported into is not signed yet: the item is waived; then the investigator
    # signs it from the command line.
    Write(
        ("dblock", "waive", "MINI", "casebooks_unsigned", "--reason", "signed on paper"),
        reason="signed on paper",
    ),
    Write(
        (
            *("sign", "MINI", "{subject}", "--signer", "irene", "--password-stdin"),
            *("--meaning", "I confirm the data of this casebook are accurate and complete."),
        ),
        stdin="a long test password",
        signer="irene (Irene)",
    ),
    Write(
        ("redcap", "records-import", "MINI", "{redcap_records}", "--reason", "REDCap migration"),
        reason="REDCap migration",
        before=_redcap_records,
    ),
    # ODM clinical data go through the same bulk path.
    Write(
        ("odm", "import-data", "MINI", "{vitals_odm}", "--reason", "partner centre data"),
        reason="partner centre data",
        before=_vitals_odm,
    ),
    Write(("setting", "set", "backup_keep", "3", "--reason", "disk space"), reason="disk space"),
    # Monitoring: the plan (audited), then the SDV of the imported vital signs.
    Write(("monitoring", "plan", "MINI", "--rule", "critical")),
    Write(("monitoring", "sdv", "MINI", "--subject", "{subject}")),
    Write(
        ("role", "revoke", "dora", "MINI", "all", "data_manager", "--reason", "left"),
        reason="left",
    ),
    Write(("user", "deactivate", "dora", "--reason", "left the unit"), reason="left the unit"),
    # Pharmacy: a batch, the manufacturer's kit list (its SHA-256 beside it), generated kits,
    # a relabelling, a shipment to site 01 received kit by kit, an excursion and its decision.
    Write(
        (
            *("pharmacy", "batches", "PHARMA", "--add", "B1", "--product", "capecitabine"),
            *("--expiry", "2030-01-31", "--released-on", "2026-01-10"),
        ),
        before=_pharmacy_study,
    ),
    Write(("pharmacy", "kits-import", "PHARMA", "{pharmacy_kits}")),
    Write(
        (
            *("pharmacy", "kits-generate", "PHARMA", "--batch", "B1", "--per-arm", "1"),
            *("--pattern", "G{seq:03}", "--output", "{pharmacy_labels}"),
        )
    ),
    Write(
        (
            *("pharmacy", "relabel", "PHARMA", "--batch", "B1", "--expiry", "2030-06-30"),
            *("--reason", "extension letter 12"),
        ),
        reason="extension letter 12",
    ),
    Write(("pharmacy", "shipment-create", "PHARMA", "--site", "01", "--kits", "P001,P002")),
    Write(("pharmacy", "shipment-send", "PHARMA", "S01-0001")),
    Write(
        (
            *("pharmacy", "receive", "PHARMA", "S01-0001", "--kits", "P001,P002", "--close"),
            *("--temperature-record", "min 17 max 22"),
        )
    ),
    Write(
        (
            *("pharmacy", "excursion", "PHARMA", "--site", "01", "--kits", "P001"),
            *("--description", "fridge door open", "--maximum", "14", "--minutes", "300"),
        ),
        reason="fridge door open",
    ),
    Write(
        (
            *("pharmacy", "excursion-decide", "PHARMA", "{excursion}", "--decision", "usable"),
            *("--reason", "within stability data"),
        ),
        reason="within stability data",
        before=_pharmacy_excursion,
    ),
    # Pharmacovigilance: a version of the reference safety information.
    Write(("safety", "rsi-add", "MINI", "IB-1", "--from", "2025-01-01", "--terms", "Anaemia")),
    # Pharmacy dispensing (DISPENSE: MINI in kit mode, a subject randomised with its kit): the
    # first cycle's kit assigned, then the treatment kit dispensed, brought back, destroyed; a
    # resupply proposal (the site falls short).
    Write(
        (
            *("pharmacy", "assign", "DISPENSE", "--subject", "{dispense_subject}"),
            *("--event", "cycle"),
        ),
        before=_dispensing_study,
    ),
    Write(
        (
            *("pharmacy", "dispense", "DISPENSE", "--site", "{dispense_site}"),
            *("--kit", "{dispense_kit}", "--on", "2026-01-20", "--to", "patient"),
        )
    ),
    Write(
        (
            *("pharmacy", "return", "DISPENSE", "--site", "{dispense_site}"),
            *("--kit", "{dispense_kit}", "--on", "2026-02-03", "--quantity", "1"),
        )
    ),
    Write(
        (
            *("pharmacy", "destroy", "DISPENSE", "--site", "{dispense_site}"),
            *("--kits", "{dispense_kit}", "--on", "2026-03-01", "--witness", "Dr W"),
            *("--certificate", "DEST-1"),
        )
    ),
    Write(("pharmacy", "resupply", "DISPENSE")),
    # Biobank: the baseline plasma collected, then its centrifugation (SPREC computed).
    Write(
        (
            *("biobank", "collect", "MINI", "--subject", "{sample_subject}", "--event"),
            *("baseline", "--code", "plasma", "--at", "{collected}", "--volume", "10"),
        ),
        before=_biobank_samples,
    ),
    Write(
        (
            *("biobank", "process", "MINI", "{sample}", "--kind", "centrifugation"),
            *("--start", "{spun}", "--end", "{spun_end}", "--temperature", "4", "--force", "1600"),
        )
    ),
    # Biobank exchange: a destination and its MTA, samples from the LIMS, a shipment sent and
    # received, a researcher's request, and the destruction after a withdrawal of consent.
    Write(
        (
            *("biobank", "destination", "MINI", "--code", "CLAB"),
            *("--name", "Central lab", "--kind", "central_lab"),
        )
    ),
    Write(
        (
            *("biobank", "mta", "MINI", "--reference", "MTA-1", "--destination", "CLAB"),
            *("--uses", "protocol_analysis", "--from", "2025-01-01", "--to", "2099-12-31"),
        )
    ),
    Write(("biobank", "lims-import", "MINI", "{biobank_csv}"), before=_biobank_lims_samples),
    Write(
        (
            *("biobank", "ship", "MINI", "--destination", "CLAB", "--use", "protocol_analysis"),
            *("--mta", "MTA-1", "--samples", "CLI-1"),
        )
    ),
    Write(("biobank", "receive", "MINI", "SHP-0001", "--received", "CLI-1")),
    Write(
        (
            *("biobank", "request", "MINI", "--destination", "CLAB", "--sample-type", "plasma"),
            *("--quantity", "1", "--use", "protocol_analysis", "--purpose", "assay"),
        )
    ),
    Write(
        (
            *("biobank", "withdrawal", "MINI", "--samples", "CLI-2", "--action", "destroyed"),
            *("--reason", "consent withdrawn"),
        ),
        reason="consent withdrawn",
        before=_biobank_withdrawal,
    ),
    # Biobank storage: two freezers at ICM with a box each, a plasma sample of site 01 divided
    # into tubes, one put away, moved and taken out, the other moved by a freezer failure.
    Write(
        ("biobank", "freezer", "MINI", "--add", "F-1", "--centre", "ICM", "--temperature", "-80"),
        before=_sample_at_site_01,
    ),
    Write(("biobank", "box", "MINI", "F-1", "R1", "B1", "--rows", "9", "--columns", "9")),
    Write(("biobank", "aliquot", "MINI", "CLI-PL01", "--volumes", "1", "1")),
    Write(("biobank", "store", "MINI", "CLI-PL01-A01", "F-1", "R1", "B1", "--position", "A1")),
    Write(
        (
            *("biobank", "move", "MINI", "CLI-PL01-A01", "F-1", "R1", "B1"),
            *("--position", "B2", "--reason", "reorganised"),
        ),
        reason="reorganised",
    ),
    Write(("biobank", "take-out", "MINI", "CLI-PL01-A01", "--reason", "assay"), reason="assay"),
    Write(("biobank", "store", "MINI", "CLI-PL01-A02", "F-1", "R1", "B1")),
    Write(
        ("biobank", "freezer", "MINI", "--add", "F-2", "--centre", "ICM", "--temperature", "-80")
    ),
    Write(("biobank", "box", "MINI", "F-2", "R1", "B1", "--rows", "10", "--columns", "10")),
    Write(
        ("biobank", "freezer-failure", "MINI", "F-1", "--to", "F-2", "--reason", "alarm -40"),
        reason="alarm -40",
    ),
    # Coding: two versions of the synthetic MedDRA and one of WHODrug (the system chain), an
    # item coded against the first, then recoded against the second with a reason.
    Write(("coding", "load-meddra", "{meddra}", "--version", "1.0"), before=_dictionaries),
    Write(("coding", "load-whodrug", "{whodrug}", "--version", "T1")),
    Write(
        (
            *("coding", "target", "MINI", "--form", "lesions", "--item", "lesion_site"),
            *("--kind", "meddra", "--version", "1.0"),
        )
    ),
    Write(("coding", "load-meddra", "{meddra}", "--version", "2.0")),
    Write(
        (
            *("coding", "recode", "MINI", "--form", "lesions", "--item", "lesion_site"),
            *("--version", "2.0", "--apply", "--reason", "MedDRA 2.0"),
        ),
        reason="MedDRA 2.0",
    ),
    # Last, as MINI stays locked: the database locked through the services (its checklist
    # waived, four signers), then the sponsor unblinds the study from the command line.
    Write(
        (
            *("dblock", "unblind", "MINI", "--signer", "locksponsor", "--password-stdin"),
            *("--reason", "final analysis"),
        ),
        reason="final analysis",
        stdin="a long test password",
        signer="locksponsor (Locksponsor)",
        before=_mini_locked,
    ),
]
# What only reads the database (`audit anchor` writes the heads to a file, not to the database).
READ_ONLY = {
    "study validate",
    "study diff",
    "study list",
    "study show",
    "study schema",
    "centre list",
    "site list",
    "user list",
    "role list",
    "token list",
    "setting list",
    "audit verify",
    "audit anchor",
    "audit log",
    "serve",
    # `randomization report` writes a PDF file, not to the database; `verify` only replays.
    "randomization verify",
    "randomization report",
    # `reconcile` lists the paper allocations against the envelopes.
    "randomization reconcile",
    # The register of protocol deviations, as CSV on standard output.
    "deviations list",
    "queries list",
    "cutoff list",
    # The design calculator computes from its arguments alone.
    "design simon",
    "design ahern",
    "design survival",
    "design proportions",
    "design sequential",
    "lock list",
    # The database lock's checklist and its locks, printed.
    "dblock checklist",
    "dblock list",
    # A lock's archived snapshot copied to a file, checked against its hash.
    "dblock archive",
    # The audit trail of a study, filtered, written to a CSV or PDF file.
    "audit trail",
    # The CRF describes the study (no data): it writes a file, not to the database.
    "crf",
    # Monitoring: progress, what is left to verify, visits, a visit's report (a file).
    "monitoring progress",
    "monitoring outstanding",
    "monitoring visits",
    "monitoring visit-report",
    # A REDCap data dictionary in (a study YAML file) or out (a CSV file): no database write.
    "redcap dictionary-import",
    "redcap dictionary-export",
    # An ODM file's metadata become a study file (YAML); an ODM file is checked.
    "study import-odm",
    "odm check",
    # Pharmacovigilance: clocks, the line listing and the reconciliation's count as text; an
    # E2B(R3) file of a case (blinded), written to a file, not to the database.
    "safety reports",
    "safety listing",
    "safety rsi-list",
    "safety icsr",
    "safety reconciliation",
    # Pharmacy: the accountability per site (CSV) or its log (a file).
    "pharmacy accountability",
    # Biobank: labels written to a file, a scanned label printed.
    "biobank labels",
    "biobank scan",
    # Coding: the loaded versions, a study's coded terms, CTCAE terms' LLTs, as CSV.
    "coding dictionaries",
    "coding queue",
    "coding ctcae",
    # The analysis dataset and the statistical reports of a cut-off: read, written to files.
    "analysis dataset",
    "report",
    # A subject's expected and collected samples, or the missing ones, as CSV.
    "biobank expected",
    # The biobank: a shipment's manifest and the LIMS CSV, written to files.
    "biobank manifest",
    "biobank lims-export",
}
# Filled, copied or replaced whole: run on installations of their own (the tests of the demo
# above, of a backup and a restore below).
WHOLE_DATABASE = {"demo", "backup", "restore"}
# The worker runs queued tasks; each writes through a service, which records its own events.
RUNS_TASKS = {"worker"}


def _actions(name: str) -> set[str]:
    """Return `name ACTION` for each action of a command, or `name` when it has none."""
    parser = load_command_class(get_commands()[name], name).create_parser("carnet", name)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return {f"{name} {choice}" for choice in action.choices}
    return {name}


def _command(arguments: tuple[str, ...] | list[str]) -> str:
    """Return `name ACTION` of a command line, or `name` for a command without actions."""
    name = arguments[0]
    return name if _actions(name) == {name} else " ".join(arguments[:2])


def test_every_writing_command_is_in_the_list_of_audited_writes() -> None:
    installed = get_commands()
    offered = set().union(
        *(
            _actions(name)
            for name in cli.CARNET_COMMANDS
            if name in installed and name not in RUNS_TASKS
        )
    )
    written = {_command(write.arguments) for write in WRITES}
    assert offered - READ_ONLY - WHOLE_DATABASE == written


def _last_event() -> int:
    return AuditEvent.objects.aggregate(last=Max("pk"))["last"] or 0


def _randomisation_files(directory: Path) -> dict[str, str]:
    """Return the files the randomisation writes read: MINI by blocks, and a list from R."""
    text = FIXTURE.read_text(encoding="utf-8")
    scheme = "randomisation: {method: minimisation, ratio: [1, 1], factors: [site, smoker]}"
    files = {}
    for name, sizes in (("blocks", "[2]"), ("blocks4", "[4]")):
        path = directory / f"{name}.yaml"
        path.write_text(
            text.replace(scheme, f"randomisation: {{method: blocks, block_sizes: {sizes}}}"),
            encoding="utf-8",
        )
        files[f"{{{name}}}"] = str(path)
    listing = directory / "list.csv"
    listing.write_bytes(b"sequence,arm\n1,experimental\n2,placebo\n")
    files["{list}"] = str(listing)
    files["{list_sha256}"] = sha256_of_file(listing)
    kits = directory / "kits.csv"
    kits.write_bytes(
        b"site,number,arm\n01,K-0001,experimental\n01,K-0002,placebo\n"
        b"01,K-0003,experimental\n01,K-0004,placebo\n01,K-0005,experimental\n01,K-0006,placebo\n"
    )
    files["{kits}"] = str(kits)
    files["{envelopes}"] = str(directory / "envelopes.pdf")
    ranges = directory / "ranges.csv"
    ranges.write_bytes(
        b"site,analyte,sex,from,unit,low,high\n01,neutrophils,,2025-01-01,G/L,1.8,7.5\n"
    )
    files["{lab_ranges}"] = str(ranges)
    files["{export}"] = str(directory / "export.zip")
    files["{casebook}"] = str(directory / "casebooks.zip")
    return files


@pytest.mark.django_db
def test_every_write_of_the_command_line_moves_the_audit_trail_with_actor_and_reason(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    output = ""
    files = _randomisation_files(tmp_path)
    for write in WRITES:
        if write.before is not None:
            files |= write.before()
        arguments = [
            files.get(argument, argument.replace("{token}", output[:6]))
            for argument in write.arguments
        ]
        if write.stdin:
            monkeypatch.setattr(sys, "stdin", io.StringIO(write.stdin + "\n"))
        before = _last_event()
        out = io.StringIO()
        call_command(*arguments, stdout=out, stderr=io.StringIO())
        output = out.getvalue()
        events = list(AuditEvent.objects.filter(pk__gt=before).order_by("pk"))
        command = f"carnet {_command(arguments)}"
        assert events, f"`{command}` left no audit event"
        actor = write.signer or SystemActor.command_line(command).label
        assert {event.actor_label for event in events} == {actor}, command
        if write.reason:
            assert write.reason in {event.reason for event in events}, command
    assert audit_verify().intact


@pytest.mark.slow
def test_a_backup_and_a_restore_are_audited(make_installation, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    site: Installation = make_installation()
    copy = tmp_path / "copy.sqlite3"
    site.run("backup", "--output", str(copy))
    [backed_up] = site.run("audit", "log", "--limit", "1").stdout.splitlines()
    assert " carnet backup (system account " in backed_up
    assert "backup.created" in backed_up
    site.run("restore", str(copy), "--yes")
    [restored] = site.run("audit", "log", "--limit", "1").stdout.splitlines()
    assert " carnet restore (system account " in restored
    assert "backup.restored" in restored
