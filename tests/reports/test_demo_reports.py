"""The reports on the demo studies at a cut-off: their numbers are `carnet.analysis` on the
exported datasets of the same cut-off; a blinded statistician sees every subject pooled and no
arm anywhere; the DSMB's closed session is theirs and the unblinded statistician's only."""

from __future__ import annotations

import io
import math
from datetime import date

import polars as pl
import pytest

from carnet.accounts.permissions import PermissionDenied
from carnet.analysis import (
    Population,
    adverse_events_table,
    cox,
    kaplan_meier,
    logrank,
    objective_response_rate,
)
from carnet.interop.exports import export_write
from carnet.reports.derive import POOLED, derive
from carnet.reports.models import ReportStatus
from carnet.reports.rendering import report_document
from carnet.reports.selectors import report_of
from carnet.reports.services import dsmb_request, report_file
from carnet.reports.tasks import dsmb_report_run
from tests.interop.test_exports import entries
from tests.interop.test_pages_and_api import signed_in
from tests.reports.conftest import Demo

pytestmark = [pytest.mark.django_db, pytest.mark.slow]
ARMS = ("experimental", "placebo")


def exported(demo: Demo) -> tuple[pl.DataFrame, dict[str, pl.DataFrame]]:
    """Return the subject and form datasets of an unblinded Parquet export of the cut-off."""
    target = io.BytesIO()
    export_write(
        actor=demo.unblinded,
        study=demo.phase3,
        cutoff=demo.cutoff3,
        file_format="parquet",
        target=target,
        unblinded=True,
    )
    files = {
        name.removesuffix(".parquet"): pl.read_parquet(io.BytesIO(content))
        for name, content in entries(target.getvalue()).items()
        if name.endswith(".parquet")
    }
    return files.pop("subjects"), files


def close(a: float | None, b: float | None) -> bool:
    return (a is None and b is None) or (
        a is not None and b is not None and math.isclose(a, b, rel_tol=1e-9)
    )


def test_report_values_equal_carnet_analysis_on_the_exported_datasets(demo: Demo) -> None:
    subjects, forms = exported(demo)
    plan = demo.phase3.versions.order_by("number").last().parsed().statistical_plan()  # type: ignore[union-attr]
    dataset = derive(plan, subjects, forms, by_arm=True)
    frame = dataset.frame.filter(pl.col("itt") == 1).with_columns(
        pl.col("pfs_event").cast(pl.Int8), pl.col("strat_ecog").fill_null("missing")
    )
    survival, source = report_of(
        actor=demo.unblinded, study=demo.phase3, cutoff=demo.cutoff3, kind="survival"
    )
    assert source.line().startswith("MAINTAIN-CRC, cut-off IA1 (audit event #")
    assert "study version 1; by arm (unblinded)" in source.line()
    settings = dataset.settings
    km = kaplan_meier(frame, time="pfs_time", event="pfs_event", group="group", settings=settings)
    pfs = survival.data["pfs"]
    for arm in ARMS:
        curve = km.curve(arm)
        shown = pfs["curves"][arm]
        assert (shown["subjects"], shown["events"]) == (curve.subjects, curve.events)
        assert close(shown["median"], curve.median.time)
        assert close(shown["lower"], curve.median.lower)
    test = logrank(frame, group="group", time="pfs_time", event="pfs_event", strata=["strat_ecog"])
    assert close(pfs["logrank_p"], test.p_value)
    model = cox(
        frame,
        time="pfs_time",
        event="pfs_event",
        arm="group",
        strata=["strat_ecog"],
        settings=settings,
    )
    assert close(pfs["hazard_ratio"], model.terms[0].hazard_ratio)
    assert pfs["reference_arm"] == "placebo"
    # Response: ORR with its exact interval.
    response, _ = report_of(
        actor=demo.unblinded, study=demo.phase3, cutoff=demo.cutoff3, kind="response"
    )
    assert dataset.best_response is not None
    for arm in ARMS:
        members = frame.filter(pl.col("group") == arm)["subject"].to_list()
        rate = objective_response_rate(dataset.best_response, members, settings=settings)
        assert response.data["orr"][arm]["responders"] == rate.responders
        assert close(response.data["orr"][arm]["upper"], rate.upper)
    # Safety: the worst-grade table.
    safety, _ = report_of(
        actor=demo.unblinded, study=demo.phase3, cutoff=demo.cutoff3, kind="safety"
    )
    treated = dataset.frame.filter(pl.col("treated") == 1)
    table = adverse_events_table(
        dataset.adverse_events.select("subject", "term", "grade", "onset"),
        treated.select(
            "subject", pl.coalesce("last_dose", "first_dose").alias("last_dose"), "first_dose"
        ),
        Population("Safety", "treated", treated.select("subject", pl.col("group").alias("arm"))),
        settings=settings,
    )
    assert safety.data["worst_grade"] == table.frame.to_dicts()
    # Every subject has a reason for their time and status.
    assert dataset.frame["pfs_reason"].null_count() == 0
    assert dataset.frame.filter(~pl.col("pfs_event"))["pfs_reason"].str.contains("censored").all()


def test_a_blinded_statistician_sees_pooled_results_only(demo: Demo) -> None:
    blinded = signed_in(demo.blinded)
    base = f"/studies/MAINTAIN-CRC/reports/{demo.cutoff3.name}"
    for kind in ("survival", "response", "safety", "conduct", "dsmb-open"):
        page = blinded.get(f"{base}/{kind}/")
        assert page.status_code == 200, kind
        html = page.content.decode()
        assert POOLED in html
        assert not any(arm in html for arm in ARMS), kind
        answer = blinded.get(f"/api{base}/{kind}")
        assert answer.status_code == 200
        assert answer.json()["unblinded"] is False
        assert not any(arm in answer.content.decode() for arm in ARMS), kind
    report, source = report_of(
        actor=demo.blinded, study=demo.phase3, cutoff=demo.cutoff3, kind="survival"
    )
    document = report_document([report], source, title="PDF")
    assert not any(arm in document for arm in ARMS)
    pdf = blinded.get(f"{base}/survival.pdf")
    assert pdf["Content-Type"] == "application/pdf"
    dataset = blinded.get(f"/api{base}/analysis-dataset").json()
    assert {row["group"] for row in dataset["rows"]} == {POOLED}
    # The closed session (by arm) is refused on the page, the API and the DSMB request.
    assert blinded.get(f"{base}/dsmb-closed/").status_code == 403
    assert blinded.get(f"/api{base}/dsmb-closed").status_code == 403
    with pytest.raises(PermissionDenied):
        dsmb_request(actor=demo.blinded, study=demo.phase3, cutoff=demo.cutoff3, session="closed")
    # The unblinded statistician's survival page shows both arms, its curves and at-risk rows.
    unblinded = signed_in(demo.unblinded).get(f"{base}/survival/").content.decode()
    assert all(arm in unblinded for arm in ARMS)
    assert 'id="figure-pfs_km" data-curves="2" data-at-risk-rows="2"' in unblinded
    assert "Hazard ratio experimental vs placebo" in unblinded
    assert "stratified by strat_ecog" in unblinded


def test_the_dsmb_member_gets_the_closed_session_pdf_from_the_worker(demo: Demo) -> None:
    run = dsmb_request(actor=demo.dsmb, study=demo.phase3, cutoff=demo.cutoff3, session="closed")
    dsmb_report_run.call(run.pk)
    run.refresh_from_db()
    assert run.status == ReportStatus.DONE, run.error
    assert report_file(run).read_bytes().startswith(b"%PDF")
    client = signed_in(demo.dsmb)
    download = client.get(f"/studies/MAINTAIN-CRC/dsmb-reports/{run.pk}/download/")
    assert download.status_code == 200
    # Someone else's report is not theirs to read.
    other = signed_in(demo.unblinded).get(f"/api/studies/MAINTAIN-CRC/dsmb-reports/{run.pk}")
    assert other.status_code == 400
    closed, _ = report_of(
        actor=demo.dsmb, study=demo.phase3, cutoff=demo.cutoff3, kind="dsmb-closed"
    )
    monitoring = closed.data["monitoring"]
    assert monitoring["looks"][0] == pytest.approx(monitoring["events"] / 247)
    assert monitoring["decision"]
    # ACC-209's response report shows Simon's decisions.
    response, _ = report_of(
        actor=demo.blinded, study=demo.phase2, cutoff=demo.cutoff2, kind="response"
    )
    assert response.data["simon"]["stage_1"] in {"passed", "futility", "ongoing"}
    values = dict(response.sections[0].values)
    assert values["Simon design"] == "optimal, stage 1 r1/n1 = 1/10, final r/n = 5/29"
    assert date.fromisoformat(demo.cutoff2.cut_on.isoformat()) == demo.cutoff2.cut_on


def test_the_safety_report_shifts_laboratory_grades_by_arm_or_pooled(demo: Demo) -> None:
    from carnet.reports.results import SHIFT_GRADES

    by_arm, _source = report_of(
        actor=demo.unblinded, study=demo.phase3, cutoff=demo.cutoff3, kind="safety"
    )
    together, _source = report_of(
        actor=demo.blinded, study=demo.phase3, cutoff=demo.cutoff3, kind="safety"
    )
    shift, pooled_shift = by_arm.data["lab_shift"], together.data["lab_shift"]
    assert shift, "the demo's laboratory values are graded"
    treated = {
        arm: sum(n for base in by_group.values() for n in base.values())
        for arm, by_group in next(iter(shift.values())).items()
    }
    assert set(treated) == set(ARMS)
    for analyte, by_group in shift.items():
        assert set(by_group) == set(ARMS), analyte
        # Every test counts the whole safety population of each arm.
        for arm, bases in by_group.items():
            assert sum(n for base in bases.values() for n in base.values()) == treated[arm]
    for analyte in set(shift) & set(pooled_shift):
        assert set(pooled_shift[analyte]) == {POOLED}
        for base in SHIFT_GRADES:
            for worst in SHIFT_GRADES:
                arms = sum(shift[analyte][arm][base][worst] for arm in ARMS)
                assert pooled_shift[analyte][POOLED][base][worst] == arms, (analyte, base, worst)
    titles = [t.title for s in together.sections for t in s.tables]
    assert any("baseline grade against the worst grade" in title for title in titles)
