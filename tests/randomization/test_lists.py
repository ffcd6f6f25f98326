"""Randomisation lists: generated from a seed or imported from SAS/R, extended never edited."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from carnet.audit.models import AuditEvent
from carnet.core.errors import ValidationError
from carnet.core.hashing import sha256_hex
from carnet.randomization.models import ListEntry
from carnet.randomization.services import RandomisationRefused, list_generate, list_import
from tests.accounts.factories import ADMIN
from tests.randomization.conftest import Trial

pytestmark = pytest.mark.django_db

STRATA = {"site=01|smoker=1", "site=01|smoker=0", "site=02|smoker=1", "site=02|smoker=0"}


def entries(trial: Trial) -> list[tuple[str, int, str]]:
    return list(
        ListEntry.objects.filter(allocation_list__scheme__study=trial.world.study)
        .order_by("stratum", "sequence")
        .values_list("stratum", "sequence", "arm")
    )


def test_generate_makes_whole_blocks_in_every_stratum_and_keeps_the_seed_out_of_sight(
    blocks_trial: Trial,
) -> None:
    out = StringIO()
    call_command(
        "randomization",
        "generate",
        "MINI",
        "--per-stratum",
        "10",
        "--seed",
        "987654321",
        stdout=out,
    )
    listed = entries(blocks_trial)
    assert {stratum for stratum, _s, _a in listed} == STRATA
    for stratum in STRATA:
        arms = [arm for s, _seq, arm in listed if s == stratum]
        assert len(arms) >= 10
        assert arms.count("experimental") == arms.count("placebo")  # whole blocks only
    assert "987654321" not in out.getvalue()
    assert "entries SHA-256" in out.getvalue()
    event = AuditEvent.objects.get(action="randomisation.list_generated")
    assert "987654321" not in str(event.new)
    assert event.new["per_stratum"] == 10


def test_extending_keeps_every_entry_and_adds_the_next_ones(blocks_trial: Trial) -> None:
    study = blocks_trial.world.study
    list_generate(actor=ADMIN, study=study, per_stratum=6)
    before = entries(blocks_trial)
    written = list_generate(actor=ADMIN, study=study, per_stratum=20)
    after = entries(blocks_trial)
    assert set(before) <= set(after)
    assert written.added == len(after) - len(before) > 0
    with pytest.raises(ValidationError, match="a list is only extended"):
        list_generate(actor=ADMIN, study=study, per_stratum=20)
    with pytest.raises(ValidationError, match="extended from its own seed"):
        list_generate(actor=ADMIN, study=study, per_stratum=30, seed=1)


def test_the_same_seed_gives_the_same_list_in_another_study_database(blocks_trial: Trial) -> None:
    from carnet.randomization.blocks import stratum_list

    list_generate(actor=ADMIN, study=blocks_trial.world.study, per_stratum=8, seed=42)
    expected = [
        (entry.stratum, entry.sequence, entry.arm)
        for entry in stratum_list(
            seed=42,
            stratum="site=02|smoker=0",
            arms=("experimental", "placebo"),
            ratio=(1, 1),
            block_sizes=(2, 4),
            length=8,
        )
    ]
    assert [e for e in entries(blocks_trial) if e[0] == "site=02|smoker=0"] == expected


def test_a_minimisation_study_has_no_list(minimisation_trial: Trial) -> None:
    with pytest.raises(RandomisationRefused, match="allocates by minimisation"):
        list_generate(actor=ADMIN, study=minimisation_trial.world.study, per_stratum=4)


def test_a_nurse_cannot_generate_a_list(blocks_trial: Trial) -> None:
    from carnet.accounts.permissions import PermissionDenied

    with pytest.raises(PermissionDenied):
        list_generate(actor=blocks_trial.nurse, study=blocks_trial.world.study, per_stratum=4)


GOOD = (
    "site,smoker,sequence,arm,block,block_size\n"
    "01,1,1,experimental,1,2\n"
    "01,1,2,placebo,1,2\n"
    "01,0,1,placebo,1,2\n"
    "01,0,2,experimental,1,2\n"
)


def import_text(trial: Trial, text: str, digest: str | None = None) -> None:
    content = text.encode()
    list_import(
        actor=ADMIN,
        study=trial.world.study,
        content=content,
        sha256=digest or sha256_hex(content),
        file_name="list.csv",
    )


def test_an_imported_list_is_stored_with_its_checksum_and_audited(blocks_trial: Trial) -> None:
    import_text(blocks_trial, GOOD)
    assert entries(blocks_trial) == [
        ("site=01|smoker=0", 1, "placebo"),
        ("site=01|smoker=0", 2, "experimental"),
        ("site=01|smoker=1", 1, "experimental"),
        ("site=01|smoker=1", 2, "placebo"),
    ]
    event = AuditEvent.objects.get(action="randomisation.list_imported")
    assert event.new["file_sha256"] == sha256_hex(GOOD.encode())


@pytest.mark.parametrize(
    ("bad_line", "message"),
    [
        ("03,1,3,placebo,2,2", "line 6: site '03' is not a level of the stratum (01, 02)."),
        ("01,2,3,placebo,2,2", "line 6: smoker '2' is not a level of the stratum (0, 1)."),
        ("01,1,3,aspirin,2,2", "line 6: the arm 'aspirin' is not one of experimental, placebo."),
        ("01,1,x,placebo,2,2", "line 6: sequence 'x' is not a whole number from 1."),
        (
            "01,1,4,placebo,2,2",
            "line 6: sequence 4 in site=01|smoker=1: the next one expected is 3.",
        ),
    ],
)
def test_a_malformed_line_refuses_the_whole_file_naming_the_line(
    blocks_trial: Trial, bad_line: str, message: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        import_text(blocks_trial, GOOD + bad_line + "\n")
    assert str(refused.value) == message
    assert entries(blocks_trial) == []  # all or nothing


def test_a_wrong_checksum_is_refused(blocks_trial: Trial) -> None:
    with pytest.raises(ValidationError, match="not the file meant"):
        import_text(blocks_trial, GOOD, digest="0" * 64)
    assert entries(blocks_trial) == []


def test_an_imported_list_is_extended_and_never_edited(blocks_trial: Trial) -> None:
    import_text(blocks_trial, GOOD)
    import_text(blocks_trial, GOOD + "01,1,3,placebo,2,2\n01,1,4,experimental,2,2\n")
    assert len(entries(blocks_trial)) == 6
    edited = GOOD.replace("01,1,2,placebo", "01,1,2,experimental")
    with pytest.raises(ValidationError, match=r"line 3: .* a list is only extended, never edited"):
        import_text(blocks_trial, edited)
    assert ("site=01|smoker=1", 2, "placebo") in entries(blocks_trial)


def test_the_command_names_the_refused_line(blocks_trial: Trial, tmp_path: object) -> None:
    from pathlib import Path

    path = Path(str(tmp_path)) / "list.csv"
    path.write_text(GOOD + "01,1,3,aspirin,2,2\n")
    with pytest.raises(CommandError, match="line 6"):
        call_command(
            "randomization", "import", "MINI", str(path), "--sha256", sha256_hex(path.read_bytes())
        )
