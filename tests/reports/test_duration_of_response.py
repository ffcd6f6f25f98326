"""The duration of response, derived set-wise: from the first CR or PR to the first progression
after it or death (an event), else censored at the last adequate (not NE) assessment."""

from __future__ import annotations

from datetime import date

import polars as pl

from carnet.reports.derive import _duration_of_response

D = date.fromordinal


def test_each_kind_of_responder_gets_its_duration_and_event() -> None:
    day0 = date(2026, 1, 1).toordinal()
    assessments = pl.DataFrame(
        [
            # PR then PD: event at the progression.
            ("a", D(day0 + 56), "PR"),
            ("a", D(day0 + 112), "SD"),
            ("a", D(day0 + 168), "PD"),
            # CR, then death without progression: event at the death.
            ("b", D(day0 + 56), "CR"),
            ("b", D(day0 + 112), "CR"),
            # PR, then NE: censored at the last adequate assessment.
            ("c", D(day0 + 56), "SD"),
            ("c", D(day0 + 112), "PR"),
            ("c", D(day0 + 168), "PR"),
            ("c", D(day0 + 224), "NE"),
            # PD before a PR does not end it; death after the progression does not either.
            ("d", D(day0 + 56), "PD"),
            ("d", D(day0 + 112), "PR"),
            ("d", D(day0 + 168), "PD"),
            # Never a responder: no row.
            ("e", D(day0 + 56), "SD"),
        ],
        schema={"subject": pl.String, "date": pl.Date, "response": pl.String},
        orient="row",
    )
    frame = pl.DataFrame(
        {
            "subject": ["a", "b", "c", "d", "e"],
            "death": [None, D(day0 + 150), None, D(day0 + 400), None],
        },
        schema={"subject": pl.String, "death": pl.Date},
    )
    rows = {
        row["subject"]: (row["dor_time"], row["dor_event"])
        for row in _duration_of_response(frame, assessments).iter_rows(named=True)
    }
    assert rows == {"a": (112, True), "b": (94, True), "c": (56, False), "d": (56, True)}


def test_no_assessment_and_no_responder_give_an_empty_frame() -> None:
    frame = pl.DataFrame(
        {"subject": ["a"], "death": [None]}, schema={"subject": pl.String, "death": pl.Date}
    )
    empty = pl.DataFrame(schema={"subject": pl.String, "date": pl.Date, "response": pl.String})
    assert _duration_of_response(frame, empty).is_empty()
    stable = pl.DataFrame(
        {"subject": ["a"], "date": [date(2026, 2, 1)], "response": ["SD"]},
    )
    result = _duration_of_response(frame, stable)
    assert result.is_empty()
    assert result.schema == {"subject": pl.String, "dor_time": pl.Int64, "dor_event": pl.Boolean}
