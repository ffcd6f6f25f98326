"""Exports at a cut-off: the same bytes later, typed columns, nothing identifying, no arm for
the blinded, and refusals that say why."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from datetime import date
from typing import Any

import pyarrow.parquet as pq
import pytest
from django.utils import translation

from carnet.accounts.permissions import PermissionDenied
from carnet.audit.models import AuditEvent
from carnet.capture.services import form_save
from carnet.core.errors import ValidationError
from carnet.interop.exports import export_write
from carnet.interop.models import Cutoff
from carnet.interop.services import cutoff_create
from carnet.studies.services import study_publish
from carnet.subjects.services import identity_set, subject_settings_set, visit_record
from tests.accounts.personas import ADMIN, FIXTURE
from tests.capture.conftest import include
from tests.interop.conftest import ANCHOR, EXTRA_ITEMS, INITIALS, KIT, Exporting, amend

pytestmark = pytest.mark.django_db


def export(e: Exporting, cutoff: Cutoff, file_format: str = "csv", **options: Any) -> bytes:
    target = io.BytesIO()
    export_write(
        actor=options.pop("actor", e.statistician),
        study=e.world.study,
        cutoff=cutoff,
        file_format=file_format,
        target=target,
        **options,
    )
    return target.getvalue()


def entries(archive: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(archive)) as opened:
        return {name: opened.read(name) for name in opened.namelist()}


def rows(content: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(content.decode("utf-8"))))


def cut(e: Exporting, name: str = "DSMB-1") -> Cutoff:
    return cutoff_create(
        actor=e.statistician,
        study=e.world.study,
        name=name,
        reason="First DSMB",
        cut_on=date(2026, 2, 1),
    )


def test_a_cutoff_names_the_chain_head_and_is_an_audit_event(exporting: Exporting) -> None:
    last = AuditEvent.objects.filter(chain="study:MINI").order_by("-seq").first()
    cutoff = cut(exporting)
    assert (cutoff.seq, cutoff.head_hash) == (last.seq, last.hash)
    recorded = AuditEvent.objects.get(chain="study:MINI", seq=last.seq + 1)
    assert recorded.action == "cutoff.created"
    assert recorded.new["name"] == "DSMB-1"


def test_an_export_at_a_cutoff_is_the_same_bytes_after_later_changes(exporting: Exporting) -> None:
    e = exporting
    cutoff = cut(e)
    before = {f: export(e, cutoff, f) for f in ("csv", "parquet")}
    # Later: values changed, a lesion row removed, a visit date, a new patient.
    form_save(
        actor=e.entry,
        subject=e.subject,
        event="baseline",
        form="vitals",
        base_version=1,
        values={"weight": 80, "height": 180, "diagnosed": "2025"},
    )
    form_save(
        actor=e.entry,
        subject=e.subject,
        event="baseline",
        form="lesions",
        base_version=1,
        rows={"target": {2: None}},
    )
    visit_record(
        actor=e.entry, subject=e.subject, event="baseline", occurrence=1, visit_on=date(2026, 1, 5)
    )
    other = include(e.world, e.entry)
    form_save(
        actor=e.entry,
        subject=other,
        event="baseline",
        form="vitals",
        base_version=0,
        values={"weight": 60},
    )
    after = {f: export(e, cutoff, f) for f in ("csv", "parquet")}
    assert after == before
    # A cut-off made now sees the changes.
    now = entries(export(e, cut(e, "DSMB-2")))
    assert [r["weight"] for r in rows(now["vitals.csv"])] == ["80.0", "60.0"]
    assert [r["row"] for r in rows(now["lesions_target.csv"])] == ["1"]


def test_the_csv_reads_back_typed_with_its_programs(exporting: Exporting) -> None:
    files = entries(export(exporting, cut(exporting), actor=exporting.unblinded, unblinded=True))
    vitals = rows(files["vitals.csv"])
    assert len(vitals) == 1
    row = vitals[0]
    assert (row["study"], row["site"], row["subject"], row["event"]) == (
        "MINI",
        "01",
        "01-001",
        "baseline",
    )
    assert (row["weight"], row["height"], row["smoker"], row["vs_date"]) == (
        "70.5",
        "172",
        "1",
        "2026-01-05",
    )
    assert (row["diagnosed"], row["diagnosed_imp"]) == ("2025-03", "2025-03-15")
    assert row["kit_number"] == KIT  # an unblinded export keeps the arm-revealing item
    lesions = rows(files["lesions_target.csv"])
    assert [(r["row"], r["lesion_site"], r["diameter"]) for r in lesions] == [
        ("1", "liver", "25"),
        ("2", "lung", "40"),
    ]
    subjects = rows(files["subjects.csv"])
    assert subjects[0]["arm"] == exporting.arm
    assert subjects[0]["allocation_number"] == "1"
    sas = files["MINI.sas"].decode()
    assert 'infile "&carnet/vitals.csv" dsd firstobs=2' in sas
    assert 'value yes_no_f 1 = "Yes" 0 = "No";' in sas
    assert "vs_date yymmdd10." in sas
    r = files["MINI.R"].decode()
    assert 'attr(vitals$smoker, "labels") <- c("Yes" = 1, "No" = 0)' in r
    manifest = json.loads(files["manifest.json"])
    assert manifest["cutoff"]["name"] == "DSMB-1"
    assert {f["name"] for f in manifest["files"]} == set(files) - {"manifest.json"}


def test_the_parquet_reads_back_with_types(exporting: Exporting) -> None:
    files = entries(export(exporting, cut(exporting), "parquet"))
    table = pq.read_table(io.BytesIO(files["vitals.parquet"]))
    assert str(table.schema.field("vs_date").type) == "date32[day]"
    assert str(table.schema.field("weight").type) == "double"
    assert table.column("weight").to_pylist() == [70.5]
    assert table.column("height").to_pylist() == [172]


def test_no_identifying_value_and_for_the_blinded_no_arm(exporting: Exporting) -> None:
    archive = export(exporting, cut(exporting))
    files = entries(archive)
    everything = b"".join(files.values())
    assert INITIALS.encode() not in everything
    assert KIT.encode() not in everything
    assert b"kit_number" not in everything
    assert exporting.arm.encode() not in everything
    assert "arm" not in rows(files["subjects.csv"])[0]


def test_no_value_of_the_identity_vault_leaves(exporting: Exporting) -> None:
    e = exporting
    subject_settings_set(
        actor=ADMIN, study=e.world.study, central_eligibility_review=False, identity_vault=True
    )
    identity_set(
        actor=e.entry,
        subject=e.subject,
        values={"last_name": "Durandeau", "first_name": "Josiane", "national_id": "2850399123456"},
    )
    files = entries(export(e, cut(e), actor=e.unblinded, unblinded=True))
    everything = b"".join(files.values())
    for secret in (b"Durandeau", b"Josiane", b"2850399123456"):
        assert secret not in everything


def test_a_blinded_statistician_cannot_ask_for_an_unblinded_export(exporting: Exporting) -> None:
    cutoff = cut(exporting)
    with pytest.raises(PermissionDenied, match="needs an unblinded role"):
        export(exporting, cutoff, unblinded=True)
    with translation.override("fr"), pytest.raises(PermissionDenied, match="rôle non aveugle"):
        export(exporting, cutoff, unblinded=True)


def test_a_monitor_may_not_cut_off_or_export(exporting: Exporting) -> None:
    with pytest.raises(PermissionDenied):
        cutoff_create(actor=exporting.monitor, study=exporting.world.study, name="X", reason="r")
    with pytest.raises(PermissionDenied):
        export(exporting, cut(exporting), actor=exporting.monitor)


def test_cutoff_refusals_are_located(exporting: Exporting) -> None:
    cut(exporting)
    with pytest.raises(ValidationError, match=r"^name: MINI already has a cut-off named DSMB-1"):
        cut(exporting)
    with pytest.raises(ValidationError, match=r"^name: 'a b' is not a cut-off name"):
        cut(exporting, "a b")
    with translation.override("fr"), pytest.raises(ValidationError, match=r"^motif"):
        cutoff_create(
            actor=exporting.statistician, study=exporting.world.study, name="Y", reason=" "
        )


def test_the_xpt_export_reads_back_with_sas_names_and_labels_within_v5(
    exporting: Exporting, tmp_path: Any
) -> None:
    import pyreadstat

    cutoff = cut(exporting)
    archive = export(exporting, cutoff, "xpt")
    assert export(exporting, cutoff, "xpt") == archive  # no time of writing inside
    files = entries(archive)
    manifest = json.loads(files["manifest.json"])
    assert manifest["sas_names"]["VITALS"]["vs_date"] == "VS_DATE"
    assert manifest["sas_names"]["LESIONS_"]["lesion_site"] == "LESSITE"  # the study's sas_name
    path = tmp_path / "vitals.xpt"
    path.write_bytes(files["vitals.xpt"])
    frame, meta = pyreadstat.read_xport(str(path), output_format="polars")
    assert all(len(name) <= 8 for name in meta.column_names)
    assert all(len(label or "") <= 40 for label in meta.column_labels)
    assert frame.get_column("WEIGHT").to_list() == [70.5]
    assert frame.get_column("VS_DATE").to_list() == [date(2026, 1, 5)]
    assert "KIT_NUMB" not in meta.column_names


def test_an_amendment_after_the_cutoff_adds_a_column_later_and_changes_nothing_before(
    exporting: Exporting, tmp_path: Any
) -> None:
    e = exporting
    cutoff = cut(e)
    before = export(e, cutoff)
    text = FIXTURE.read_text(encoding="utf-8").replace(ANCHOR, EXTRA_ITEMS + ANCHOR)
    amend(
        tmp_path,
        text.replace(
            ANCHOR,
            "          - {name: ecog, type: integer, label: {en: ECOG, fr: ECOG}}\n" + ANCHOR,
        ),
    )
    study_publish(actor=ADMIN, study=e.world.study)
    assert export(e, cutoff) == before
    later = rows(entries(export(e, cut(e, "LATER")))["vitals.csv"])
    assert "ecog" in later[0]
    assert later[0]["crf_version"] == "2"  # entered under version 2, before the amendment
    assert "ecog" not in rows(entries(before)["vitals.csv"])[0]


@pytest.mark.parametrize("file_format", ["dta", "sav"])
def test_stata_and_spss_exports_read_back_with_value_labels_and_the_same_bytes(
    exporting: Exporting, tmp_path: Any, file_format: str
) -> None:
    import pyreadstat

    cutoff = cut(exporting)
    archive = export(exporting, cutoff, file_format)
    assert export(exporting, cutoff, file_format) == archive  # no time of writing inside
    path = tmp_path / f"vitals.{file_format}"
    path.write_bytes(entries(archive)[f"vitals.{file_format}"])
    read = pyreadstat.read_dta if file_format == "dta" else pyreadstat.read_sav
    frame, meta = read(str(path), output_format="polars")
    assert frame.get_column("weight").to_list() == [70.5]
    assert frame.get_column("vs_date").to_list() == [date(2026, 1, 5)]
    assert meta.variable_value_labels["smoker"] == {1.0: "Yes", 0.0: "No"}
    assert dict(zip(meta.column_names, meta.column_labels, strict=True))["weight"] == "Weight"
    assert "kit_number" not in meta.column_names


def test_an_export_kept_to_a_form_and_a_site(exporting: Exporting) -> None:
    cutoff = cut(exporting)
    files = entries(export(exporting, cutoff, forms=["lesions"], sites=["02"]))
    assert sorted(files) == [
        "MINI.R",
        "MINI.sas",
        "codebook.html",
        "lesions.csv",
        "lesions_target.csv",
        "manifest.json",
        "subjects.csv",
    ]
    assert rows(files["lesions_target.csv"]) == []  # the subject is at site 01
    manifest = json.loads(files["manifest.json"])
    assert (manifest["options"]["forms"], manifest["options"]["sites"]) == (["lesions"], ["02"])
    with pytest.raises(ValidationError, match=r"^forms: labs: no such form"):
        export(exporting, cutoff, forms=["labs"])


def test_the_codebook_describes_every_dataset_of_the_zip(exporting: Exporting) -> None:
    files = entries(export(exporting, cut(exporting), "xpt"))
    codebook = files["codebook.html"].decode("utf-8")
    for dataset in ("subjects", "vitals", "lesions", "lesions_target"):
        assert f'<section id="{dataset}">' in codebook
    assert "<code>vitals.xpt</code>, 1 rows." in codebook
    # A variable: its SAS name, label, type and value labels.
    assert (
        "<tr><td><code>smoker</code></td><td><code>SMOKER</code></td><td>Smoker</td>"
        "<td>integer</td><td>item</td><td><code>1</code> = Yes; <code>0</code> = No</td></tr>"
    ) in codebook
    assert "<td><code>lesion_site</code></td><td><code>LESSITE</code></td>" in codebook
    assert "kit_number" not in codebook  # blinded: the arm-revealing item is not described
    manifest = json.loads(files["manifest.json"])
    assert "codebook.html" in {f["name"] for f in manifest["files"]}
