"""The warehouse layout: Parquet partitioned ``study=/site=/form=`` with a manifest of files,
hashes, rows, schemas and the audit head, which DuckDB reads back with the same counts."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import duckdb
import pytest

from carnet.capture.services import form_save
from carnet.core.hashing import sha256_hex
from tests.capture.conftest import include
from tests.interop.conftest import Exporting
from tests.interop.test_exports import cut, export

pytestmark = pytest.mark.django_db


def test_duckdb_reads_the_warehouse_layout_with_the_manifests_counts(
    exporting: Exporting, tmp_path: Path
) -> None:
    e = exporting
    other = include(e.world, e.entry)
    form_save(
        actor=e.entry,
        subject=other,
        event="baseline",
        form="vitals",
        base_version=0,
        values={"weight": 61, "height": 160, "smoker": 0},
    )
    cutoff = cut(e)
    archive = export(e, cutoff, "warehouse", actor=e.unblinded, unblinded=True)
    assert export(e, cutoff, "warehouse", actor=e.unblinded, unblinded=True) == archive
    with zipfile.ZipFile(io.BytesIO(archive)) as opened:
        opened.extractall(tmp_path)
        names = opened.namelist()
    assert "study=MINI/site=01/form=vitals/part-0.parquet" in names
    assert "study=MINI/site=01/form=lesions_target/part-0.parquet" in names
    manifest = json.loads((tmp_path / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["audit_head"] == {"seq": cutoff.seq, "hash": cutoff.head_hash}
    for entry in manifest["files"]:
        assert sha256_hex((tmp_path / entry["name"]).read_bytes()) == entry["sha256"]
    assert {c["name"] for c in manifest["datasets"]["vitals"]["columns"]} >= {"weight", "vs_date"}
    connection = duckdb.connect()
    for dataset, described in manifest["datasets"].items():
        pattern = str(tmp_path / f"study=*/site=*/form={dataset}/*.parquet")
        if described["rows"] == 0:
            continue
        (rows,) = connection.execute(
            "select count(*) from read_parquet(?, hive_partitioning = true, "
            "hive_types_autocast = false)",
            [pattern],
        ).fetchone()
        assert rows == described["rows"], dataset
    assert manifest["datasets"]["vitals"]["rows"] == 2
    randomised = connection.execute(
        "select subject, site, arm from read_parquet(?, hive_partitioning = true, "
        "hive_types_autocast = false) where randomised_on is not null",
        [str(tmp_path / "study=*/site=*/form=subjects/*.parquet")],
    ).fetchall()
    assert randomised == [(e.subject.identifier, "01", e.arm)]
