"""The centre's activity report: planted inclusions, randomisations, queries and forms counted
per study, site and year; who counts what (a person their studies and sites, a system
administrator everything); no arm anywhere; the registered columns (the biobank's samples);
the page, CSV, PDF, API and `carnet report activity`.

MINI (tests/studies/fixtures/mini.yaml) in production: site 01 (ICM) and site 02 (IPC).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime

import pytest
import time_machine
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from carnet.accounts.roles import Role
from carnet.accounts.services import user_create
from carnet.audit.services import SystemActor
from carnet.capture.services import form_save
from carnet.quality.services import query_answer, query_cancel, query_close, query_raise
from carnet.randomization.services import subject_randomise
from carnet.reports.activity import (
    activity_counters,
    activity_csv,
    activity_report,
    register_activity_counter,
    unregister_activity_counter,
)
from carnet.studies.services import study_mode_change
from carnet.subjects.models import Subject
from carnet.subjects.services import ConsentGiven, subject_include
from tests.accounts.personas import ADMIN, World, person, world
from tests.biobank.conftest import Biobank, biobank  # noqa: F401  (the fixture)

pytestmark = pytest.mark.django_db
DAY = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def _include(w: World, site: object, on: date) -> Subject:
    return subject_include(
        actor=ADMIN,
        study=w.study,
        site=site,  # type: ignore[arg-type]
        included_on=on,
        eligibility={"baseline.weight": 70, "weight": 70, "packs": 0},
        consent=ConsentGiven(form_version="v1", consented_on=on),
    )


def plant() -> World:
    """Inclusions: site 01 three in 2025 and two in 2026 (one randomised), site 02 one in 2026;
    a test patient (never counted); queries at 01: one open, one answered, one closed, one
    cancelled, and one open at 02; the baseline vital signs of the randomised patient, complete.
    Run on 2 March 2026 (the counts of forms expected depend on the day)."""
    w = world()
    study_mode_change(actor=ADMIN, study=w.study, mode="test")
    w.study.refresh_from_db()
    _include(w, w.site_a, date(2026, 2, 20))  # a test patient: kept apart
    study_mode_change(actor=ADMIN, study=w.study, mode="production")
    w.study.refresh_from_db()
    for day in (date(2025, 3, 1), date(2025, 6, 1), date(2025, 12, 31)):
        _include(w, w.site_a, day)
    randomised = _include(w, w.site_a, date(2026, 2, 1))
    _include(w, w.site_a, date(2026, 2, 25))
    other = _include(w, w.site_b, date(2026, 1, 10))
    entry = person("julie", study=w.study, role=Role.DATA_ENTRY, sites=[w.site_a])
    form_save(
        actor=entry,
        subject=randomised,
        event="baseline",
        form="vitals",
        base_version=0,
        values={"weight": 70, "height": 172, "smoker": 1, "vs_date": "2026-02-01"},
        complete=True,
    )
    subject_randomise(actor=entry, subject=randomised)
    monitor = person("sophie", study=w.study, role=Role.MONITOR, sites=[w.site_a, w.site_b])
    query_raise(actor=monitor, subject=randomised, text="still open")
    answered = query_raise(actor=monitor, subject=randomised, text="to answer")
    query_answer(actor=entry, query=answered, text="checked")
    closed = query_raise(actor=monitor, subject=randomised, text="to close")
    query_close(actor=monitor, query=closed, text="fine")
    cancelled = query_raise(actor=monitor, subject=randomised, text="a mistake")
    query_cancel(actor=monitor, query=cancelled, text="wrong patient")
    query_raise(actor=monitor, subject=other, text="at site 02")
    return w


@pytest.fixture
def planted() -> Iterator[World]:
    with time_machine.travel(DAY, tick=True):
        yield plant()


def _by(rows: Sequence[object], *keys: str) -> dict[tuple[object, ...], object]:
    return {tuple(getattr(row, key) for key in keys): row for row in rows}


def test_the_planted_inclusions_randomisations_and_queries_are_counted(planted: World) -> None:
    with time_machine.travel(DAY, tick=True):
        report = activity_report(SystemActor.command_line("test"))
    rows = _by(report.rows, "study", "site", "year")
    counts = {key: (row.included, row.randomised) for key, row in rows.items()}  # type: ignore[attr-defined]
    assert counts == {
        ("MINI", "01", 2025): (3, 0),
        ("MINI", "01", 2026): (2, 1),
        ("MINI", "02", 2026): (1, 0),
    }
    years = {
        y.year: (y.trials_open, y.trials_including, y.included, y.randomised) for y in report.years
    }
    assert years == {2025: (1, 1, 3, 0), 2026: (1, 1, 3, 1)}
    quality = _by(report.quality, "site")
    a = quality[("01",)]
    assert (a.queries_open, a.queries_answered, a.queries_closed) == (1, 1, 1)  # type: ignore[attr-defined]
    b = quality[("02",)]
    assert (b.queries_open, b.queries_answered, b.queries_closed) == (1, 0, 0)  # type: ignore[attr-defined]
    # Forms expected on 2 March 2026: baseline (vital signs and lesions, its window closes on
    # the inclusion day) and each 14-day cycle (vital signs) whose window (+3 days) has closed.
    # Site 02, included 10 January: baseline 2 + cycles of 24 Jan, 7 and 21 Feb = 5. Site 01:
    # 25 Feb: 2; 1 Feb: 2 + 15 Feb = 3; 31 Dec: 2 + 4 cycles = 6; 1 June 2025: 2 + 19 = 21;
    # 1 March 2025: 2 + 25 = 27; together 59. One of them is finished (the vital signs saved).
    assert (a.forms_expected, a.forms_finished) == (59, 1)  # type: ignore[attr-defined]
    assert (b.forms_expected, b.forms_finished) == (5, 0)  # type: ignore[attr-defined]
    assert a.completeness_text == "1.7%"  # type: ignore[attr-defined]
    assert b.completeness == 0.0  # type: ignore[attr-defined]


def test_one_year_counts_that_year_only(planted: World) -> None:
    with time_machine.travel(DAY, tick=True):
        report = activity_report(SystemActor.command_line("test"), year=2025)
    assert [(r.site, r.year, r.included) for r in report.rows] == [("01", 2025, 3)]
    assert [(y.year, y.included) for y in report.years] == [(2025, 3)]
    # Queries raised in 2025 (none) and forms of the patients included in 2025 (none done).
    assert all(q.queries_open == 0 and q.forms_finished == 0 for q in report.quality)


def test_the_counts_are_aggregates_whatever_the_number_of_patients(planted: World) -> None:
    actor = SystemActor.command_line("test")
    with time_machine.travel(DAY, tick=True):
        with CaptureQueriesContext(connection) as few:
            activity_report(actor)
        for day in range(1, 21):
            _include(planted, planted.site_b, date(2026, 1, day))
        with CaptureQueriesContext(connection) as many:
            report = activity_report(actor)
    assert len(many.captured_queries) == len(few.captured_queries)
    assert sum(row.included for row in report.rows) == 26


def test_a_person_counts_only_the_studies_and_sites_their_role_allows(planted: World) -> None:
    w = planted
    with time_machine.travel(DAY, tick=True):
        sponsor = person("sponsor", study=w.study, role=Role.SPONSOR)
        investigator_b = person("inv-b", study=w.study, role=Role.INVESTIGATOR, sites=[w.site_b])
        entry = person("entry", study=w.study, role=Role.DATA_ENTRY, sites=[w.site_a])
        outsider = person("outsider")
        administrator = user_create(
            actor=ADMIN,
            username="direction",
            password=None,
            full_name="Direction",
            is_administrator=True,
        )
        seen = {
            name: {(r.site, r.year) for r in activity_report(user).rows}
            for name, user in (
                ("sponsor", sponsor),
                ("investigator_b", investigator_b),
                ("entry", entry),
                ("outsider", outsider),
                ("administrator", administrator),
            )
        }
        reports = {
            name: activity_report(user) for name, user in (("entry", entry), ("b", investigator_b))
        }
    every = {("01", 2025), ("01", 2026), ("02", 2026)}
    assert seen["sponsor"] == every
    assert seen["administrator"] == every
    assert seen["investigator_b"] == {("02", 2026)}
    assert seen["entry"] == set()
    assert seen["outsider"] == set()
    assert reports["entry"].studies == 0
    assert {q.site for q in reports["b"].quality} == {"02"}


def test_no_arm_appears_in_any_output(planted: World) -> None:
    with time_machine.travel(DAY, tick=True):
        report = activity_report(SystemActor.command_line("test"))
        text = activity_csv(report)
        client = Client()
        unblinded = person("emma", study=planted.study, role=Role.UNBLINDED_STATISTICIAN)
        client.force_login(unblinded)
        page = client.get(reverse("reports:activity")).content.decode()
    for arm in ("experimental", "placebo", "Experimental", "Placebo"):
        assert arm not in text
        assert arm not in page


def test_a_registered_counter_adds_its_column(planted: World) -> None:
    site_a, site_b = planted.site_a.pk, planted.site_b.pk
    study = planted.study.pk
    asked: list[tuple[list[int], int | None]] = []

    def samples(study_ids: Sequence[int], year: int | None) -> dict[tuple[int, int, int], int]:
        asked.append((list(study_ids), year))
        return {(study, site_a, 2026): 7, (study, site_b, 2026): 2, (study, site_a, 2024): 1}

    # Replaces the biobank's own column for this test, which puts it back after.
    real = {registered.name: registered for registered in activity_counters()}["samples"]
    register_activity_counter("samples", samples, label="Samples collected")
    try:
        with time_machine.travel(DAY, tick=True):
            report = activity_report(SystemActor.command_line("test"))
            investigator_b = person(
                "inv-b", study=planted.study, role=Role.INVESTIGATOR, sites=[planted.site_b]
            )
            theirs = activity_report(investigator_b)
            text = activity_csv(report)
    finally:
        unregister_activity_counter("samples")
        register_activity_counter("samples", real.counter, label=real.label)
    assert asked[0] == ([study], None)
    assert report.counters == ["Samples collected"]
    rows = {(r.site, r.year): r.counts for r in report.rows}
    assert rows[("01", 2026)] == (7,)
    assert rows[("02", 2026)] == (2,)
    # A year with samples and no inclusion still has its row.
    assert rows[("01", 2024)] == (1,)
    assert {y.year: y.counts for y in report.years}[2026] == (9,)
    assert {(r.site, r.year): r.counts for r in theirs.rows} == {("02", 2026): (2,)}
    assert text.splitlines()[0].split(",")[9] == "samples"


def test_the_page_csv_and_pdf(planted: World) -> None:
    client = Client()
    with time_machine.travel(DAY, tick=True):
        client.force_login(person("sponsor", study=planted.study, role=Role.SPONSOR))
        page = client.get(reverse("reports:activity"), {"year": "2026"})
        bad = client.get(reverse("reports:activity"), {"year": "last"})
        sheet = client.get(reverse("reports:activity_csv"))
        pdf = client.get(reverse("reports:activity_pdf"), {"year": "2026"})
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-study="MINI" data-site="01" data-year="2026"' in html
    assert bad.status_code == 400
    assert "year: give a year" in bad.content.decode()
    rows = list(csv.DictReader(io.StringIO(sheet.content.decode())))
    inclusions = {
        (r["site"], r["year"]): r["included"] for r in rows if r["section"] == "inclusions"
    }
    assert inclusions == {("01", "2025"): "3", ("01", "2026"): "2", ("02", "2026"): "1"}
    assert pdf.status_code in (200, 503)  # 503 where WeasyPrint lacks Pango
    if pdf.status_code == 200:
        assert pdf.content.startswith(b"%PDF")


def test_the_api_counts_what_the_page_counts(planted: World) -> None:
    from carnet.accounts.services import token_create
    from tests.accounts.personas import with_second_factor

    with time_machine.travel(DAY, tick=True):
        sponsor = with_second_factor(person("sponsor", study=planted.study, role=Role.SPONSOR))
        _token, key = token_create(actor=ADMIN, user=sponsor, study=planted.study)
        body = (
            Client()
            .get("/api/activity?year=2026", headers={"authorization": f"Bearer {key}"})
            .json()
        )
    refused = Client().get("/api/activity?year=99999", headers={"authorization": f"Bearer {key}"})
    assert refused.status_code == 400
    assert "year: give a year" in refused.json()["detail"]
    assert body["year"] == 2026
    assert {(r["site"], r["included"], r["randomised"]) for r in body["rows"]} == {
        ("01", 2, 1),
        ("02", 1, 0),
    }
    assert body["years"] == [
        {
            "year": 2026,
            "trials_open": 1,
            "trials_including": 1,
            "included": 3,
            "randomised": 1,
            # The biobank's column: no sample was collected in this world.
            "counts": {"samples": 0},
        }
    ]


def test_the_command_writes_csv_html_and_text(
    planted: World, tmp_path: object, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    from pathlib import Path

    folder = Path(str(tmp_path))
    with time_machine.travel(DAY, tick=True):
        call_command(
            "report",
            "activity",
            "--year",
            "2025",
            "--format",
            "csv",
            "--output",
            str(folder / "a.csv"),
        )
        call_command("report", "activity", "--format", "html", "--output", str(folder / "a.html"))
        call_command("report", "activity")
    rows = list(csv.DictReader((folder / "a.csv").open(encoding="utf-8")))
    assert [
        (r["section"], r["site"], r["included"]) for r in rows if r["section"] != "quality"
    ] == [
        ("summary", "", "3"),
        ("inclusions", "01", "3"),
    ]
    assert 'data-site="02" data-year="2026"' in (folder / "a.html").read_text("utf-8")
    text = capsysbinary.readouterr().out.decode()
    assert "2026 | MINI | 01 | Institut du Cancer de Montpellier | 2 | 1" in text
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="year: give a year"):
        call_command("report", "activity", "--year", "99999")
    with pytest.raises(CommandError, match="activity counts every study"):
        call_command("report", "activity", "MINI")
    with pytest.raises(CommandError, match="needs a STUDY and --cutoff"):
        call_command("report", "survival", "MINI")


def test_the_biobank_s_samples_are_counted_per_site_and_year_of_collection(
    biobank: Biobank,  # noqa: F811  (the fixture imported above)
) -> None:
    # The real column: primary samples of production patients, not their aliquots.
    from decimal import Decimal

    from carnet.biobank.models import Sample

    first = biobank.plasma()
    Sample.objects.create(
        study=first.study, environment=first.environment, subject=first.subject,
        site=first.site, identifier=first.identifier + "-A01", parent=first,
        sample_type="plasma", volume=Decimal("1"), unit="mL", created_at=first.created_at,
        created_by="test", updated_at=first.created_at,
    )  # fmt: skip
    assert first.collected_at is not None
    year = first.collected_at.year
    report = activity_report(SystemActor.command_line("test"))
    column = report.counters.index("Samples collected")
    counted = {(r.site, r.year): r.counts[column] for r in report.rows if r.counts[column]}
    assert counted == {("01", year): 1}
    other = activity_report(SystemActor.command_line("test"), year=year - 1)
    assert not any(r.counts[column] for r in other.rows)
