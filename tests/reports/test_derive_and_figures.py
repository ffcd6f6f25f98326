"""The analysis frame derived from exported datasets as the plan says, and the figures drawn from
it: made from hand-written frames, no database."""

from __future__ import annotations

import datetime as dt

import polars as pl

from carnet.analysis import kaplan_meier
from carnet.reports.derive import POOLED, derive
from carnet.reports.figures import forest_figure, kaplan_meier_figure, waterfall_figure
from carnet.reports.results import pooled, safety_report, survival_report
from carnet.studies.definition.statistical_plan import StatisticalPlan

D = dt.date
PLAN = StatisticalPlan.from_design(
    {
        "statistical_plan": {
            "method": "group-sequential",
            "primary_endpoint": "progression_free_survival",
            "settings": {"reference_arm": "B", "response": {"confirmation": False}},
            "endpoints": {
                "death": "survival.death_date",
                "last_news": "survival.last_news_date",
                "first_dose": "treatment.adm_date",
                "assessments": {
                    "form": "tumour",
                    "date": "ta_date",
                    "response": "overall",
                    "change": "pct",
                    "codes": {"CR": 1, "PR": 2, "SD": 3, "PD": 4, "NE": 5},
                },
                "adverse_events": {
                    "form": "ae",
                    "term": "term",
                    "grade": "grade",
                    "onset": "start",
                    "serious": {"item": "serious", "codes": [1]},
                },
            },
            "landmarks": [60],
        }
    }
)


def subjects() -> pl.DataFrame:
    names = ["01", "02", "03", "04"]
    return pl.DataFrame(
        {
            "subject": names,
            "site": ["A"] * 4,
            "arm": ["A", "A", "B", "B"],
            "included_on": [D(2025, 1, 1)] * 4,
            "randomised_on": [D(2025, 1, 1)] * 4,
            "last_news_on": [D(2025, 6, 1), D(2025, 3, 1), D(2025, 6, 1), D(2025, 5, 1)],
            "death_on": [None, D(2025, 3, 1), None, None],
            "itt": pl.Series([1, 1, 1, 1], dtype=pl.Int8),
            "per_protocol": pl.Series([1, 1, 1, 0], dtype=pl.Int8),
            "safety": pl.Series([1, 1, 1, 1], dtype=pl.Int8),
        }
    )


def forms() -> dict[str, pl.DataFrame]:
    tumour = pl.DataFrame(
        {
            "subject": ["01", "01", "02", "03", "03", "04"],
            "visit_date": [
                D(2025, 2, 26),
                D(2025, 4, 23),
                D(2025, 2, 20),
                D(2025, 2, 26),
                D(2025, 4, 23),
                D(2025, 2, 26),
            ],
            "ta_date": [
                D(2025, 2, 26),
                D(2025, 4, 23),
                D(2025, 2, 20),
                D(2025, 2, 26),
                D(2025, 4, 23),
                D(2025, 2, 26),
            ],
            "overall": [2, 4, 3, 3, 3, 5],
            "pct": [-40.0, 10.0, -5.0, 0.0, 2.0, None],
        }
    )
    treatment = pl.DataFrame(
        {
            "subject": ["01", "02", "03", "04"],
            "visit_date": [D(2025, 1, 2)] * 4,
            "adm_date": [D(2025, 1, 2)] * 4,
        }
    )
    ae = pl.DataFrame(
        {
            "subject": ["01", "03", "03"],
            "visit_date": [None, None, None],
            "term": ["nausea", "Nausea", "rash"],
            "grade": [3, 1, 2],
            "start": [D(2025, 1, 10), D(2025, 1, 20), D(2025, 1, 25)],
            "serious": [1, 0, None],
        }
    )
    return {"tumour": tumour, "treatment": treatment, "ae": ae}


def test_the_frame_gives_each_subject_times_events_and_reasons() -> None:
    dataset = derive(PLAN, subjects(), forms(), by_arm=True)
    rows = {row["subject"]: row for row in dataset.frame.to_dicts()}
    assert (rows["01"]["pfs_time"], rows["01"]["pfs_event"]) == (112, True)
    assert rows["01"]["pfs_reason"] == "progression on 2025-04-23: event."
    assert (rows["02"]["os_time"], rows["02"]["os_event"]) == (59, True)
    assert rows["03"]["pfs_event"] is False
    assert "censored" in rows["03"]["pfs_reason"]
    # 04 had only a not-evaluable assessment: censored at randomisation.
    assert rows["04"]["pfs_time"] == 0
    assert [rows[s]["bor"] for s in ("01", "02", "03", "04")] == ["PR", "SD", "SD", "NE"]
    assert (rows["01"]["dor_time"], rows["01"]["dor_event"]) == (56, True)
    assert dataset.groups == ["A", "B"]
    assert dataset.adverse_events["term"].to_list() == ["Nausea", "Nausea", "Rash"]


def test_a_blinded_frame_has_one_pooled_group_and_no_arm() -> None:
    dataset = derive(PLAN, subjects().drop("arm"), forms(), by_arm=False)
    assert dataset.groups == [POOLED]
    assert "arm" not in dataset.frame.columns
    report = survival_report(dataset)
    assert set(report.data["pfs"]["curves"]) == {POOLED}
    assert "hazard_ratio" not in report.data["pfs"]  # nothing compares arms
    safety = safety_report(pooled(derive(PLAN, subjects(), forms(), by_arm=True)))
    assert {row["arm"] for row in safety.data["worst_grade"]} == {POOLED}
    assert safety.data["serious"] == [
        {"term": "Any adverse event", "arm": POOLED, "any_grade": "1 (25.0%)"},
        {"term": "Nausea", "arm": POOLED, "any_grade": "1 (25.0%)"},
    ]


def test_the_kaplan_meier_figure_has_a_curve_and_an_at_risk_row_per_arm() -> None:
    frame = pl.DataFrame(
        {
            "time": [5, 8, 12, 3, 9, 15, 20, 7, 30],
            "event": [1, 1, 0, 1, 1, 0, 1, 1, 0],
            "group": ["A", "A", "A", "A", "B", "B", "B", "B", "C"],
        }
    )
    result = kaplan_meier(frame, group="group", at=[0, 10, 20, 30])
    figure = kaplan_meier_figure(result, name="km", title="OS", ticks=[0, 10, 20, 30], unit="days")
    assert (figure.curves, figure.at_risk_rows) == (3, 3)
    assert figure.png.startswith(b"\x89PNG")
    assert len(figure.png) > 10_000
    assert figure.svg.count("<svg") == 1
    # The numbers at risk printed under A's curve at 0, 10, 20 and 30 days.
    assert result.curve("A").at_times["at_risk"].to_list() == [4, 1, 0, 0]
    forest = forest_figure(
        [("All", 0.7, 0.5, 0.9), ("Men", 0.6, 0.4, 1.1)], name="f", title="HR", reference="B"
    )
    assert forest.bars == 2
    assert forest.png.startswith(b"\x89PNG")
    waterfall = waterfall_figure([("1", -40.0, "PR"), ("2", 10.0, "SD")], name="w", title="Change")
    assert waterfall.bars == 2


def test_figures_are_the_same_bytes_for_the_same_data() -> None:
    dataset = derive(PLAN, subjects(), forms(), by_arm=True)
    first = survival_report(dataset).figure("pfs_km")
    second = survival_report(dataset).figure("pfs_km")
    assert first is not None
    assert second is not None
    assert first.svg == second.svg


def test_a_cutoff_without_analysable_subjects_gives_reports_that_say_so() -> None:
    nobody = subjects().with_columns(
        pl.lit(None, pl.Date).alias("randomised_on"), pl.lit(None, pl.Date).alias("included_on")
    )
    dataset = derive(PLAN, nobody, forms(), by_arm=True)
    assert dataset.frame.is_empty()
    assert dataset.notes == ("4 subjects without a reference date left out.",)
    report = survival_report(dataset)
    assert report.sections[0].notes == ["No subject of the ITT population has this endpoint yet."]
    assert safety_report(dataset).sections[0].notes == ["No subject has a first dose recorded yet."]


def test_the_spider_plot_draws_one_line_per_patient_with_a_change_beside_the_waterfall() -> None:
    from carnet.reports.results import response_report

    dataset = derive(PLAN, subjects(), forms(), by_arm=True)
    report = response_report(dataset, cut_on=D(2025, 6, 1))
    spider = report.figure("spider")
    waterfall = report.figure("waterfall")
    assert spider is not None
    assert waterfall is not None
    # 01 (two assessments), 02 and 03 have a change; 04's only assessment has none.
    assert spider.curves == 3
    assert spider.svg.count('id="patient-') == 3
    assert waterfall.bars == 3
    assert spider.png.startswith(b"\x89PNG")
    names = [figure.name for figure in report.sections[0].figures]
    assert names.index("spider") == names.index("waterfall") + 1


def test_the_spider_figure_counts_the_lines_it_draws() -> None:
    from carnet.reports.figures import spider_figure

    figure = spider_figure(
        [("1", [(56, -40.0), (112, 10.0)], "PR"), ("2", [(50, -5.0)], "SD")],
        name="s",
        title="Change",
    )
    assert figure.curves == 2
    # Each patient's line starts at baseline (day 0, 0%) and has a marker per assessment.
    assert figure.svg.count('id="patient-') == 2
    assert 'id="patient-1"' in figure.svg


def _lab(rows: list[tuple[str, str, dt.date, int | None]]) -> pl.DataFrame:
    return pl.DataFrame(
        rows,
        schema={
            "subject": pl.String,
            "analyte": pl.String,
            "sampled_on": pl.Date,
            "grade": pl.Int8,
        },
        orient="row",
    )


def test_the_shift_table_counts_the_baseline_grade_against_the_worst_after_the_first_dose() -> None:
    from dataclasses import replace

    from carnet.reports.results import laboratory_shift_section

    dataset = derive(PLAN, subjects(), forms(), by_arm=True)  # first dose 2 January 2025
    lab = _lab(
        [
            ("01", "ALT", D(2025, 1, 1), 0),  # baseline 0
            ("01", "ALT", D(2025, 2, 1), 1),
            ("01", "ALT", D(2025, 3, 1), 3),  # worst 3
            ("02", "ALT", D(2024, 12, 20), 2),  # an earlier baseline value: the last one counts
            ("02", "ALT", D(2025, 1, 2), 1),  # baseline 1 (on the day of the first dose)
            ("02", "ALT", D(2025, 2, 1), None),  # cannot be graded: missing
            ("03", "ALT", D(2025, 2, 1), 2),  # no baseline
            ("01", "PLT", D(2025, 1, 1), 0),
            ("01", "PLT", D(2025, 2, 1), 0),
        ]
    )
    groups = dataset.frame.select("subject", "group")
    dataset = replace(dataset, laboratory=lab.join(groups, on="subject"))
    section, data = laboratory_shift_section(dataset)
    alt = data["ALT"]
    assert alt["A"]["0"]["3"] == 1
    assert alt["A"]["1"]["Missing"] == 1
    assert alt["B"]["Missing"]["2"] == 1
    assert alt["B"]["Missing"]["Missing"] == 1  # 04: no ALT at all
    assert sum(n for base in alt["A"].values() for n in base.values()) == 2
    assert data["PLT"]["A"]["0"]["0"] == 1
    assert data["PLT"]["B"]["Missing"]["Missing"] == 2
    assert [table.title.split(":")[0] for table in section.tables] == ["ALT", "PLT"]
    # Six baseline rows and a total per arm.
    assert len(section.tables[0].rows) == 14
    assert section.tables[0].rows[0] == ["A", "0", "0", "0", "0", "1", "0", "0", "1"]

    blinded = laboratory_shift_section(pooled(dataset))[1]
    assert set(blinded["ALT"]) == {POOLED}
    assert blinded["ALT"][POOLED]["Missing"]["Missing"] == 1
    assert sum(n for base in blinded["ALT"][POOLED].values() for n in base.values()) == 4


def test_the_shift_section_says_when_there_is_no_laboratory_value() -> None:
    from carnet.reports.results import laboratory_shift_section

    section, data = laboratory_shift_section(derive(PLAN, subjects(), forms(), by_arm=True))
    assert data == {}
    assert section.notes == ["No graded laboratory value in the safety population."]
