"""Overall and progression-free survival derived from dates by the plan's censoring rules."""

import datetime as dt

import polars as pl
import pytest

from carnet.analysis import (
    AnalysisInputError,
    AnalysisSettings,
    ProgressionFreeRules,
    overall_survival,
    progression_free_survival,
)

DAY0 = dt.date(2024, 1, 1)


def day(offset: int) -> dt.date:
    return DAY0 + dt.timedelta(days=offset)


def subjects(**columns: list[object]) -> pl.DataFrame:
    n = len(next(iter(columns.values())))
    base: dict[str, list[object]] = {
        "subject": [f"{i + 1:03d}" for i in range(n)],
        "randomisation": [DAY0] * n,
    }
    base.update(columns)
    return pl.DataFrame(
        base, schema_overrides=dict.fromkeys([k for k in base if k != "subject"], pl.Date)
    )


def assessments(pairs: list[tuple[str, int]]) -> pl.DataFrame:
    return pl.DataFrame(
        {"subject": [s for s, _ in pairs], "date": [day(d) for _, d in pairs]},
        schema={"subject": pl.String, "date": pl.Date},
    )


def test_overall_survival_counts_deaths_and_censors_the_living_at_last_news() -> None:
    os = overall_survival(subjects(death=[day(100), None], last_news=[day(100), day(400)]))
    assert os.frame.select("time", "event").rows() == [(100, True), (400, False)]
    assert "last news" in os.explain("002")


def test_progression_free_survival_takes_the_earlier_of_progression_and_death() -> None:
    pfs = progression_free_survival(
        subjects(
            progression=[day(112), None],
            death=[day(300), day(60)],
            last_news=[day(300), day(60)],
        ),
        assessments([("001", 56), ("001", 112), ("002", 56)]),
    )
    assert pfs.frame.select("time", "event").rows() == [(112, True), (60, True)]
    assert pfs.explain("002") == "002: death on 2024-03-01: event."


def test_a_new_anticancer_therapy_censors_at_the_last_assessment_before_it() -> None:
    pfs = progression_free_survival(
        subjects(progression=[day(200)], new_therapy=[day(130)], last_news=[day(250)]),
        assessments([("001", 56), ("001", 112), ("001", 168), ("001", 200)]),
    )
    assert pfs.frame.select("time", "event").rows() == [(112, False)]
    assert "new anticancer therapy" in pfs.explain("001")


def test_the_new_therapy_rule_can_be_switched_off_by_the_plan() -> None:
    settings = AnalysisSettings(
        progression_free=ProgressionFreeRules(censor_at_new_anticancer_therapy=False)
    )
    pfs = progression_free_survival(
        subjects(progression=[day(200)], new_therapy=[day(130)], last_news=[day(250)]),
        assessments([("001", 56), ("001", 112), ("001", 168), ("001", 200)]),
        settings=settings,
    )
    assert pfs.frame.select("time", "event").rows() == [(200, True)]


def test_an_event_after_two_missed_assessments_is_censored_at_the_last_one() -> None:
    # Assessments every 56 days, window 7: 2 x 56 + 7 = 119 days is the most a gap may last.
    rows = subjects(progression=[day(56 + 119), day(56 + 120)], last_news=[day(300), day(300)])
    pfs = progression_free_survival(rows, assessments([("001", 56), ("002", 56)]))
    assert pfs.frame.select("time", "event").rows() == [(175, True), (56, False)]
    assert "missed assessments" in pfs.explain("002")


def test_a_subject_without_event_is_censored_at_the_last_adequate_assessment() -> None:
    pfs = progression_free_survival(
        subjects(last_news=[day(400), day(30)]),
        assessments([("001", 56), ("001", 112)]),
    )
    assert pfs.frame.select("time", "event").rows() == [(112, False), (0, False)]
    assert "randomisation" in pfs.explain("002")


def test_a_progression_after_death_is_refused_naming_the_subject() -> None:
    rows = subjects(
        progression=[None, day(200)], death=[None, day(150)], last_news=[day(10), day(150)]
    )
    with pytest.raises(AnalysisInputError, match="002") as error:
        progression_free_survival(rows, assessments([]))
    assert error.value.subject == "002"


def test_news_after_death_is_refused() -> None:
    rows = subjects(death=[day(100)], last_news=[day(130)])
    with pytest.raises(AnalysisInputError, match=r"001.*last news"):
        overall_survival(rows)


def test_a_death_before_randomisation_is_refused() -> None:
    rows = subjects(death=[day(-5)], last_news=[day(-5)])
    with pytest.raises(AnalysisInputError, match="before randomisation"):
        overall_survival(rows)


def test_an_assessment_after_death_is_refused() -> None:
    rows = subjects(death=[day(100)], last_news=[day(100)])
    with pytest.raises(AnalysisInputError, match="after death"):
        progression_free_survival(rows, assessments([("001", 112)]))


def test_the_rules_are_printed_with_the_endpoint() -> None:
    pfs = progression_free_survival(subjects(last_news=[day(10)]), assessments([]))
    assert "2 or more missed assessments" in str(pfs)
