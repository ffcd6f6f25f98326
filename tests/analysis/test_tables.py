"""Table 1 by arm, adverse events by worst grade and the analysis populations they rest on."""

import datetime as dt

import polars as pl
import pytest

from carnet.analysis import (
    AnalysisInputError,
    AnalysisSettings,
    adverse_events_table,
    intention_to_treat,
    per_protocol,
    safety,
    table_one,
)

RANDOMISED = pl.DataFrame({"subject": ["1", "2", "3", "4", "5"], "arm": ["A", "A", "A", "B", "B"]})


def cell(table: pl.DataFrame, variable: str, statistic: str, column: str) -> str:
    row = table.filter((pl.col("variable") == variable) & (pl.col("statistic") == statistic))
    return str(row[column][0])


def test_table_one_gives_continuous_summaries_by_arm_and_overall() -> None:
    data = pl.DataFrame({"subject": ["1", "2", "3", "4", "5"], "age": [40, 50, 60, 70, None]})
    frame = table_one(data, intention_to_treat(RANDOMISED), continuous=["age"]).frame
    assert cell(frame, "age", "mean (sd)", "A (N=3)") == "50.0 (10.0)"
    assert cell(frame, "age", "median (Q1-Q3)", "A (N=3)") == "50.0 (45.0-55.0)"
    assert cell(frame, "age", "min-max", "Total (N=5)") == "40-70"
    assert cell(frame, "age", "n", "B (N=2)") == "1"
    assert cell(frame, "age", "missing", "B (N=2)") == "1"
    assert cell(frame, "age", "mean (sd)", "B (N=2)") == "70.0 (-)"


def test_table_one_counts_missing_categories_in_the_denominator() -> None:
    data = pl.DataFrame({"subject": ["1", "2", "3", "4"], "sex": ["F", "M", None, "F"]})
    frame = table_one(data, intention_to_treat(RANDOMISED), categorical=["sex"]).frame
    assert cell(frame, "sex", "F", "A (N=3)") == "1 (33.3%)"
    # Subject 3 has a null, subject 5 no row at all: both are missing.
    assert cell(frame, "sex", "missing", "Total (N=5)") == "2 (40.0%)"
    assert cell(frame, "sex", "missing", "B (N=2)") == "1 (50.0%)"


def test_per_protocol_drops_the_excluded_and_refuses_the_unknown() -> None:
    population = per_protocol(RANDOMISED, ["2"])
    assert population.size() == 4
    assert population.size("A") == 2
    with pytest.raises(AnalysisInputError, match="9") as error:
        per_protocol(RANDOMISED, ["9"])
    assert error.value.subject == "9"


def test_safety_analyses_by_treatment_received() -> None:
    exposures = pl.DataFrame({"subject": ["1", "2", "4"], "arm_received": ["A", "B", "B"]})
    population = safety(exposures)
    assert population.size("B") == 2
    assert "treatment received" in str(population)


def ae_inputs() -> tuple[pl.DataFrame, pl.DataFrame]:
    start = dt.date(2024, 1, 1)
    exposures = pl.DataFrame(
        {
            "subject": ["1", "2", "3", "4"],
            "first_dose": [start] * 4,
            "last_dose": [start + dt.timedelta(days=90)] * 4,
        }
    )
    events = pl.DataFrame(
        {
            "subject": ["1", "1", "2", "3", "4", "4"],
            "soc": ["Gastro"] * 4 + ["Blood", "Gastro"],
            "term": ["Nausea", "Nausea", "Nausea", "Vomiting", "Anaemia", "Nausea"],
            "grade": [1, 3, 2, 4, 2, 1],
            "onset": [
                start + dt.timedelta(days=5),
                start + dt.timedelta(days=40),
                start + dt.timedelta(days=115),  # 25 days after the last dose
                start - dt.timedelta(days=3),  # before the first dose
                start + dt.timedelta(days=121),  # 31 days after the last dose
                start + dt.timedelta(days=10),
            ],
        }
    )
    return events, exposures


def test_adverse_events_count_each_patient_once_at_the_worst_grade_within_the_window() -> None:
    events, exposures = ae_inputs()
    population = safety(
        pl.DataFrame({"subject": ["1", "2", "3", "4"], "arm_received": ["A", "A", "B", "B"]})
    )
    table = adverse_events_table(events, exposures, population).frame
    nausea_a = table.filter((pl.col("term") == "Nausea") & (pl.col("arm") == "A")).row(
        0, named=True
    )
    assert nausea_a["any_grade"] == "2 (100.0%)"
    assert nausea_a["grade_3_or_more"] == "1 (50.0%)"
    assert (nausea_a["worst_grade_2"], nausea_a["worst_grade_3"], nausea_a["worst_grade_1"]) == (
        1,
        1,
        0,
    )
    terms_b = table.filter(pl.col("arm") == "B")["term"].to_list()
    # Vomiting began before the first dose and anaemia 31 days after the last: not emergent.
    assert "Vomiting" not in terms_b
    assert "Anaemia" not in terms_b
    assert table.filter(pl.col("term") == "Any adverse event")["any_grade"].to_list() == [
        "2 (100.0%)",
        "1 (50.0%)",
    ]


def test_the_treatment_emergent_window_is_a_setting() -> None:
    events, exposures = ae_inputs()
    population = safety(
        pl.DataFrame({"subject": ["1", "2", "3", "4"], "arm_received": ["A", "A", "B", "B"]})
    )
    wider = adverse_events_table(
        events, exposures, population, settings=AnalysisSettings(treatment_emergent_days=31)
    )
    assert "Anaemia" in wider.frame["term"].to_list()
    assert "last dose + 31 days" in str(wider)


def test_a_grade_outside_ctcae_is_refused_naming_the_subject() -> None:
    events, exposures = ae_inputs()
    events = events.with_columns(
        pl.when(pl.col("subject") == "3").then(6).otherwise(pl.col("grade")).alias("grade")
    )
    population = safety(pl.DataFrame({"subject": ["1"], "arm_received": ["A"]}))
    with pytest.raises(AnalysisInputError, match="Subject 3") as error:
        adverse_events_table(events, exposures, population)
    assert error.value.parameter == "grade"


def test_a_population_member_without_dose_dates_is_refused() -> None:
    events, exposures = ae_inputs()
    population = safety(pl.DataFrame({"subject": ["1", "8"], "arm_received": ["A", "A"]}))
    with pytest.raises(AnalysisInputError, match="Subject 8"):
        adverse_events_table(events, exposures, population)
