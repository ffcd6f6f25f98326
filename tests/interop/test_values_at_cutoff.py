"""The values of a cut-off read from today's tables, with the changes made since undone from
their own audit events, are exactly those a replay of the whole trail gives: per form, per
dataset (CRF version included), at cut-offs before and after changes, removals, new rows and
subjects, hidden values, missing codes, a test-mode instance and an amendment."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from django.db import DatabaseError, connections
from django.db.models import Max
from polars.testing import assert_frame_equal

from carnet.audit.models import AuditEvent
from carnet.audit.services import SystemActor
from carnet.capture.models import FormInstance, ItemValue
from carnet.capture.services import Missing, form_save
from carnet.db import arrow
from carnet.interop import datasets
from carnet.interop.datasets import (
    KEY,
    TrailReplay,
    ValueChanges,
    dataset_frame,
    export_plan,
    form_values_at,
    reader_inputs,
    values_at_cutoff,
)
from carnet.interop.exports import _reader
from carnet.interop.models import Cutoff
from carnet.interop.services import cutoff_create
from carnet.studies.services import study_publish
from carnet.subjects.models import Subject
from tests.accounts.personas import ADMIN, FIXTURE
from tests.capture.conftest import include
from tests.conftest import database_vendor
from tests.interop.conftest import ANCHOR, EXTRA_ITEMS, Exporting, amend

pytestmark = pytest.mark.django_db


def read_at(e: Exporting, cutoff: Cutoff, kind: type, folder: Path) -> dict[str, pl.DataFrame]:
    """Return every form's values and every dataset at the cut-off, read one way."""
    study = e.world.study
    blinding, scope, codes = _reader(SystemActor(label="test"), study, True)
    plan = export_plan(study=study, cutoff=cutoff, blinding=blinding, scope=scope, site_codes=codes)
    subjects, visits, versions = reader_inputs(study, cutoff)
    folder.mkdir()
    changes = kind(study, cutoff, folder)
    frames: dict[str, pl.DataFrame] = {}
    for form in dict.fromkeys(dataset.form for dataset in plan.datasets):
        values = form_values_at(changes, form)
        if not values.is_empty():
            frames[f"values:{form}"] = values.drop("seq").sort(KEY)
        for dataset in (d for d in plan.datasets if d.form == form):
            frames[dataset.name] = dataset_frame(
                dataset, values, subjects=subjects, visits=visits, versions=versions
            )
    return frames


def assert_same_at(e: Exporting, cutoff: Cutoff, tmp_path: Path) -> dict[str, pl.DataFrame]:
    replayed = read_at(e, cutoff, TrailReplay, tmp_path / f"replay-{cutoff.name}")
    current = read_at(e, cutoff, ValueChanges, tmp_path / f"current-{cutoff.name}")
    assert current.keys() == replayed.keys()
    for name, frame in replayed.items():
        assert_frame_equal(current[name], frame, check_exact=True)
    return current


def save(e: Exporting, subject: Any, form: str = "vitals", **where: Any) -> None:
    subject = Subject.objects.get(pk=subject.pk)  # the study's current version, after amendments
    instance = FormInstance.objects.filter(
        subject=subject,
        event=where.get("event", "baseline"),
        occurrence=where.get("occurrence", 1),
        form=form,
    ).first()
    form_save(
        actor=e.entry,
        subject=subject,
        base_version=instance.version if instance else 0,
        form=form,
        reason="correction",
        **{"event": "baseline", **where},
    )


def cut(e: Exporting, name: str) -> Cutoff:
    return cutoff_create(
        actor=e.statistician, study=e.world.study, name=name, reason=name, cut_on=date(2026, 6, 1)
    )


def test_values_from_the_tables_equal_the_replay_of_the_trail(
    exporting: Exporting, tmp_path: Path
) -> None:
    e = exporting
    first = e.subject
    save(e, first, event="cycle", values={"weight": 71, "smoker": 1, "packs": 20})
    early = cut(e, "EARLY")
    # After EARLY: a change, a cleared value, a partial date, a removed and an added lesion
    # row, a hidden value (packs, once smoker is 0), a missing code, a new subject.
    save(e, first, values={"weight": 80, "height": None, "diagnosed": "2025"})
    save(e, first, form="lesions", rows={"target": {2: None, 3: {"lesion_site": "bone"}}})
    save(e, first, event="cycle", values={"smoker": 0, "sbp": Missing("UNK")})
    second = include(e.world, e.entry)
    save(e, second, values={"weight": 60})
    # An amendment (ECOG) published between values: CRF versions 2 and 3 in one dataset.
    text = FIXTURE.read_text(encoding="utf-8").replace(ANCHOR, EXTRA_ITEMS + ANCHOR)
    ecog = "          - {name: ecog, type: integer, label: {en: ECOG, fr: ECOG}}\n"
    amend(tmp_path, text.replace(ANCHOR, ecog + ANCHOR))
    study_publish(actor=ADMIN, study=e.world.study)
    save(e, second, values={"ecog": 1})
    save(e, first, event="cycle", occurrence=2, values={"weight": 75})
    middle = cut(e, "MIDDLE")
    # After MIDDLE: more changes, a row removed, a missing code replacing a value.
    save(e, first, values={"weight": 90, "sbp": 120})
    save(e, second, values={"weight": Missing("ND")})
    save(e, first, form="lesions", rows={"target": {1: None}})
    later = cut(e, "LATER")
    save(e, first, values={"weight": 95})

    at_early = assert_same_at(e, early, tmp_path)
    at_middle = assert_same_at(e, middle, tmp_path)
    at_later = assert_same_at(e, later, tmp_path)

    # The comparisons are of frames that hold what the scenario wrote.
    assert at_early["vitals"].get_column("weight").to_list() == [70.5, 71.0]
    assert at_early["lesions_target"].get_column("row").to_list() == [1, 2]
    vitals = at_middle["vitals"]
    assert vitals.get_column("weight").to_list() == [80.0, 71.0, 75.0, 60.0]
    assert vitals.get_column("crf_version").to_list() == [2, 2, 3, 3]
    assert vitals.get_column("packs").to_list()[1] == 20  # hidden since, still exported
    assert vitals.get_column("sbp_mc").to_list()[1] == "UNK"
    assert at_middle["lesions_target"].get_column("row").to_list() == [1, 3]
    assert at_later["lesions_target"].get_column("row").to_list() == [3]
    assert at_later["vitals"].get_column("weight_mc").to_list()[-1] == "ND"


def test_a_test_mode_value_never_enters_and_an_identifying_one_is_never_read(
    exporting: Exporting, tmp_path: Path
) -> None:
    e = exporting
    cutoff = cut(e, "NOW")
    values = assert_same_at(e, cutoff, tmp_path)["values:vitals"]
    assert "initials" not in values.get_column("item").to_list()
    assert ItemValue.objects.filter(item="initials").exists()


def test_exact_last_changes_everywhere_give_the_same_versions(
    exporting: Exporting, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The path a study takes when a value predates every publication: every value's last
    change read exactly (here forced), set aside by form, gives the replay's CRF versions."""
    e = exporting
    save(e, e.subject, event="cycle", values={"weight": 71})
    text = FIXTURE.read_text(encoding="utf-8").replace(ANCHOR, EXTRA_ITEMS + ANCHOR)
    ecog = "          - {name: ecog, type: integer, label: {en: ECOG, fr: ECOG}}\n"
    amend(tmp_path, text.replace(ANCHOR, ecog + ANCHOR))
    study_publish(actor=ADMIN, study=e.world.study)
    save(e, e.subject, event="cycle", occurrence=2, values={"weight": 75})
    cutoff = cut(e, "EXACT")
    save(e, e.subject, values={"weight": 90})

    def everywhere(study: Any, cutoff: Cutoff) -> tuple[int, Any]:
        return 0, (
            AuditEvent.objects.filter(
                chain=study.audit_chain, action="item.changed", seq__lte=cutoff.seq
            )
            .order_by()
            .values("target_id")
            .annotate(last=Max("seq"))
            .values_list("target_id", "last")
        )

    monkeypatch.setattr(datasets, "_last_change_seqs", everywhere)
    frames = assert_same_at(e, cutoff, tmp_path)
    assert frames["vitals"].get_column("crf_version").to_list() == [2, 2, 3]


def test_an_old_cut_off_of_a_grown_study_replays_the_trail_and_a_recent_one_undoes(
    exporting: Exporting, tmp_path: Path
) -> None:
    # Undoing reads today's values and looks up each value changed since the cut-off by its
    # target: at 10,000 patients, a cut-off taken at 1,000 took 102 s that way against 11 s by
    # the replay. A cut-off followed by more changes than preceded it replays the trail.
    e = exporting
    old = cut(e, "OLD")
    for weight in (71, 72, 73):
        save(e, e.subject, values={"weight": weight, "height": weight + 100})
        save(e, e.subject, event="cycle", values={"weight": weight, "sbp": weight + 50})
    recent = cut(e, "RECENT")
    for name in ("old", "new"):
        (tmp_path / name).mkdir()
    assert isinstance(values_at_cutoff(e.world.study, old, tmp_path / "old"), TrailReplay)
    assert isinstance(values_at_cutoff(e.world.study, recent, tmp_path / "new"), ValueChanges)


def read_both_ways(
    e: Exporting, cutoff: Cutoff, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[dict[str, pl.DataFrame], dict[str, pl.DataFrame], list[bool]]:
    """Return the frames read through ADBC where allowed, those read through Django's cursor,
    and for each read of the first way whether ADBC took it."""
    taken: list[bool] = []

    def spied(queryset: Any) -> Any:
        batches = arrow.record_batches(queryset)
        taken.append(batches is not None)
        return batches

    monkeypatch.setattr(datasets, "record_batches", spied)
    arrow_read = read_at(e, cutoff, ValueChanges, tmp_path / "adbc")
    monkeypatch.setattr(datasets, "record_batches", lambda queryset: None)
    cursor_read = read_at(e, cutoff, ValueChanges, tmp_path / "cursor")
    return arrow_read, cursor_read, taken


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_today_s_values_come_through_adbc_the_same(
    exporting: Exporting, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    e = exporting
    save(e, e.subject, event="cycle", values={"weight": 71, "smoker": 1, "packs": 20})
    save(e, e.subject, form="lesions", rows={"target": {2: None, 3: {"lesion_site": "bone"}}})
    save(e, include(e.world, e.entry), values={"weight": Missing("ND")})
    cutoff = cut(e, "ADBC")
    save(e, e.subject, values={"weight": 90, "height": None})

    arrow_read, cursor_read, taken = read_both_ways(e, cutoff, tmp_path, monkeypatch)

    # The form instances, then today's values (from SQLite by a process of its own).
    assert taken == [True, True]
    assert arrow_read.keys() == cursor_read.keys()
    for name, frame in cursor_read.items():
        assert_frame_equal(arrow_read[name], frame, check_exact=True)
    assert arrow_read["vitals"].get_column("weight").to_list() == [70.5, 71.0, None]
    assert arrow_read["vitals"].get_column("weight_mc").to_list() == [None, None, "ND"]
    assert arrow_read["lesions_target"].get_column("row").to_list() == [1, 3]


def test_inside_a_transaction_today_s_values_come_through_django_s_cursor(
    exporting: Exporting, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ADBC's own connection would not see what this transaction wrote (the test's own)."""
    e = exporting
    cutoff = cut(e, "ATOMIC")

    arrow_read, cursor_read, taken = read_both_ways(e, cutoff, tmp_path, monkeypatch)

    assert taken == [False, False]
    for name, frame in cursor_read.items():
        assert_frame_equal(arrow_read[name], frame, check_exact=True)
    assert arrow_read["vitals"].get_column("weight").to_list() == [70.5]


@pytest.mark.django_db(transaction=True)
def test_adbc_reads_an_sqlite_database_only_from_a_process_of_its_own(
    exporting: Exporting,
) -> None:
    """Its driver's own copy of SQLite would break the locks of Python's on the same file: read
    in this process, the process's next connections failed with "disk I/O error"."""
    e = exporting
    connection = connections["default"]
    rows = ItemValue.objects.order_by().values_list("form_instance_id", "item")
    assert not connection.in_atomic_block
    batches = arrow.record_batches(rows)
    assert batches is not None
    assert sum(batch.num_rows for batch in batches) == ItemValue.objects.count()
    assert "adbc_driver_sqlite" not in sys.modules
    # This process goes on writing and reading the database it shares with the reader.
    save(e, e.subject, event="cycle", values={"weight": 72})
    connection.close()
    assert ItemValue.objects.filter(item="weight").exists()


@pytest.mark.django_db(transaction=True)
def test_a_failing_sqlite_reader_says_why(exporting: Exporting) -> None:
    if database_vendor() != "sqlite":
        pytest.skip("The reading process reads SQLite only.")
    connection = connections["default"]
    connection.ensure_connection()
    read = arrow._streamed_by_reader(connection.settings_dict["NAME"], "SELECT * FROM nowhere")
    with pytest.raises(DatabaseError, match="no such table: nowhere"):
        list(read)


def test_an_sqlite_database_in_memory_is_read_through_django_s_cursor(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """ADBC's process could not see a database that lives in this process's memory."""
    connection = connections["default"]
    if connection.vendor != "sqlite":
        pytest.skip("SQLite only.")
    monkeypatch.setattr(connection, "in_atomic_block", False)
    monkeypatch.setattr(connection, "is_in_memory_db", lambda: True)
    assert arrow.record_batches(ItemValue.objects.values_list("item")) is None


def test_the_postgresql_uri_is_django_s_settings_with_what_libpq_knows_of_its_options() -> None:
    settings = {
        "NAME": "carnet",
        "USER": "carnet",
        "PASSWORD": "it's a secret",
        "HOST": "db.example",
        "PORT": 5433,
        "OPTIONS": {"sslmode": "require", "server_side_binding": True},
    }
    from psycopg.conninfo import conninfo_to_dict

    assert conninfo_to_dict(arrow.postgresql_conninfo(settings)) == {
        "dbname": "carnet",
        "user": "carnet",
        "password": "it's a secret",
        "host": "db.example",
        "port": "5433",
        "sslmode": "require",
    }


def test_two_values_in_one_cell_keep_the_first_as_they_always_did() -> None:
    """The pivot asks no aggregate (a value's keys are unique); should two values meet in one
    cell all the same, the first is kept rather than the export failing."""
    values = pl.DataFrame(
        {
            "instance": [1, 1, 1, 2],
            "row": [0, 0, 0, 0],
            "item": ["weight", "weight", "height", "weight"],
            "text": ["70", "71", "180", "65"],
        }
    )
    wide = datasets._pivoted(values, ["instance", "row"], "text").sort("instance")
    assert wide.to_dicts() == [
        {"instance": 1, "row": 0, "weight": "70", "height": "180"},
        {"instance": 2, "row": 0, "weight": "65", "height": None},
    ]
    unique = values.filter(pl.col("text") != "71")
    assert_frame_equal(
        datasets._pivoted(unique, ["instance", "row"], "text").sort("instance"), wide
    )


def test_a_form_value_off_its_row_leaves_its_cell_the_first_value_in_key_order(
    exporting: Exporting, tmp_path: Path
) -> None:
    """Read unordered, a non-repeating group's values are sorted by key before the pivot should
    one sit on a row other than 0 (never written so): the dataset does not depend on the order
    the values came in."""
    e = exporting
    save(e, e.subject, values={"weight": 71})
    cutoff = cut(e, "ROWS")
    study = e.world.study
    blinding, scope, codes = _reader(SystemActor(label="test"), study, True)
    plan = export_plan(study=study, cutoff=cutoff, blinding=blinding, scope=scope, site_codes=codes)
    subjects, visits, versions = reader_inputs(study, cutoff)
    vitals = next(dataset for dataset in plan.datasets if dataset.name == "vitals")
    values = form_values_at(values_at_cutoff(study, cutoff, tmp_path), "vitals")
    weight = values.filter(pl.col("item") == "weight")
    off_its_row = weight.with_columns(pl.col("row") + 1, pl.lit("99").alias("text"))
    for given in (pl.concat([off_its_row, values]), pl.concat([values, off_its_row])):
        frame = dataset_frame(vitals, given, subjects=subjects, visits=visits, versions=versions)
        assert frame.get_column("weight").to_list() == [71.0]
