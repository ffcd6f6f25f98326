"""Overall and progression-free survival derived from dates, one explained row per subject."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

import polars as pl

from carnet.analysis._checks import require_columns, require_no_nulls
from carnet.analysis.errors import AnalysisInputError
from carnet.analysis.settings import DEFAULT_SETTINGS, AnalysisSettings, Convention

_DERIVED_SCHEMA = {
    "subject": pl.String,
    "time": pl.Int64,
    "event": pl.Boolean,
    "date": pl.Date,
    "reason": pl.String,
}


@dataclass(frozen=True)
class DerivedEndpoint:
    """A time-to-event endpoint per subject: ``subject, time (days), event, date, reason``."""

    name: str
    frame: pl.DataFrame
    settings: AnalysisSettings
    conventions: tuple[Convention, ...] = ()

    def explain(self, subject: str) -> str:
        """Return the sentence saying how one subject's time and status were derived."""
        row = self.frame.filter(pl.col("subject") == subject)
        if row.is_empty():
            raise AnalysisInputError(f"No subject {subject!r} in {self.name}.", subject=subject)
        return f"{subject}: {row['reason'][0]}"

    def __str__(self) -> str:
        events = int(self.frame["event"].sum())
        return (
            f"{self.name}: {self.frame.height} subjects, {events} events, time in days from "
            "randomisation."
            + (f"\n{self.settings.describe(*self.conventions)}" if self.conventions else "")
        )


def _dates(
    frame: pl.DataFrame, required: list[str], optional: list[str]
) -> list[dict[str, dt.date | str | None]]:
    for column in [*required, *optional]:
        if column in frame.columns and column != "subject" and frame[column].dtype != pl.Date:
            raise AnalysisInputError(
                f"Column {column!r} must hold dates (pl.Date), not {frame[column].dtype}.",
                parameter=column,
            )
    require_columns(frame, required, what="subjects")
    require_no_nulls(frame, required, subject="subject", what="Endpoint derivation")
    duplicated = frame.filter(pl.col("subject").is_duplicated())
    if duplicated.height:
        subject = str(duplicated["subject"][0])
        raise AnalysisInputError(
            f"Subject {subject} appears more than once in the subjects frame.", subject=subject
        )
    present = [c for c in [*required, *optional] if c in frame.columns]
    return list(
        frame.select(present).with_columns(pl.col("subject").cast(pl.String)).iter_rows(named=True)
    )


def _check_order(subject: str, earlier: str, early: object, later: str, late: object) -> None:
    """Refuse a subject whose ``earlier`` date falls after their ``later`` date."""
    if early is not None and late is not None and early > late:  # type: ignore[operator]
        raise AnalysisInputError(
            f"Subject {subject}: {later} ({late}) is before {earlier} ({early}).",
            subject=subject,
            parameter=later,
        )


def overall_survival(
    subjects: pl.DataFrame, *, settings: AnalysisSettings = DEFAULT_SETTINGS
) -> DerivedEndpoint:
    """Return overall survival: death from any cause, else censored at the date of last news.

    ``subjects`` has ``subject``, ``randomisation``, ``last_news`` and optionally ``death``
    (pl.Date). A death before randomisation, or news of a subject after their death, is refused.

    Examples
    --------
    >>> subjects = pl.DataFrame(
    ...     {
    ...         "subject": ["001", "002"],
    ...         "randomisation": [dt.date(2024, 1, 1), dt.date(2024, 1, 10)],
    ...         "death": [dt.date(2024, 3, 1), None],
    ...         "last_news": [dt.date(2024, 3, 1), dt.date(2024, 6, 1)],
    ...     }
    ... )
    >>> os = overall_survival(subjects)
    >>> os.frame.select("subject", "time", "event").rows()
    [('001', 60, True), ('002', 143, False)]
    >>> os.explain("002")
    '002: alive at last news on 2024-06-01: censored.'
    """
    rows = _dates(subjects, ["subject", "randomisation", "last_news"], ["death"])
    out = []
    for row in rows:
        subject = str(row["subject"])
        start, death, news = row["randomisation"], row.get("death"), row["last_news"]
        _check_order(subject, "randomisation", start, "last news", news)
        _check_order(subject, "randomisation", start, "death", death)
        _check_order(subject, "last news", news, "death", death)
        assert isinstance(start, dt.date)
        if isinstance(death, dt.date):
            out.append((subject, (death - start).days, True, death, f"died on {death}: event."))
        else:
            assert isinstance(news, dt.date)
            out.append(
                (
                    subject,
                    (news - start).days,
                    False,
                    news,
                    f"alive at last news on {news}: censored.",
                )
            )
    return DerivedEndpoint(
        "Overall survival", pl.DataFrame(out, schema=_DERIVED_SCHEMA, orient="row"), settings
    )


def progression_free_survival(
    subjects: pl.DataFrame,
    assessments: pl.DataFrame,
    *,
    settings: AnalysisSettings = DEFAULT_SETTINGS,
) -> DerivedEndpoint:
    """Return progression-free survival under the settings' censoring rules (FDA 2018, table A).

    ``subjects`` has ``subject``, ``randomisation``, ``last_news`` and optionally ``progression``,
    ``death`` and ``new_therapy`` (start of a new anticancer therapy), all pl.Date.
    ``assessments`` has ``subject`` and ``date``: the adequate tumour assessments. The event is
    the earlier of progression and death. It is censored at the last adequate assessment before
    it when a new therapy started first (if the rule is on), or when more than
    ``missed_assessments`` x interval + window days separate it from that assessment. Without an
    event, the subject is censored at the last adequate assessment (at randomisation if none).

    Examples
    --------
    >>> subjects = pl.DataFrame(
    ...     {
    ...         "subject": ["001", "002"],
    ...         "randomisation": [dt.date(2024, 1, 1), dt.date(2024, 1, 1)],
    ...         "progression": [dt.date(2024, 3, 1), dt.date(2024, 12, 1)],
    ...         "last_news": [dt.date(2024, 6, 1), dt.date(2024, 12, 1)],
    ...     }
    ... )
    >>> assessments = pl.DataFrame(
    ...     {
    ...         "subject": ["001", "002", "002"],
    ...         "date": [dt.date(2024, 3, 1), dt.date(2024, 2, 26), dt.date(2024, 12, 1)],
    ...     }
    ... )
    >>> pfs = progression_free_survival(subjects, assessments)
    >>> pfs.frame.select("subject", "time", "event").rows()
    [('001', 60, True), ('002', 56, False)]
    >>> print(pfs.explain("002"))  # doctest: +NORMALIZE_WHITESPACE
    002: progression on 2024-12-01 came 279 days after the last adequate assessment
    (2024-02-26), more than 2 missed assessments (> 119 days): censored at 2024-02-26.
    """
    rules = settings.progression_free
    rows = _dates(
        subjects,
        ["subject", "randomisation", "last_news"],
        ["progression", "death", "new_therapy"],
    )
    require_columns(assessments, ["subject", "date"], what="assessments")
    require_no_nulls(assessments, ["subject", "date"], subject="subject", what="Assessments")
    if assessments["date"].dtype != pl.Date:
        raise AnalysisInputError("Assessment 'date' must hold dates (pl.Date).", parameter="date")
    dates_by_subject: dict[str, list[dt.date]] = defaultdict(list)
    for subject, date in assessments.select(pl.col("subject").cast(pl.String), "date").iter_rows():
        dates_by_subject[subject].append(date)
    known = {str(row["subject"]) for row in rows}
    for subject in dates_by_subject:
        if subject not in known:
            raise AnalysisInputError(
                f"Subject {subject} has tumour assessments but is not in the subjects frame.",
                subject=subject,
            )
    limit = (
        None
        if rules.missed_assessments is None
        else rules.missed_assessments * rules.assessment_interval_days
        + rules.assessment_window_days
    )
    out = []
    for row in rows:
        subject = str(row["subject"])
        start_value = row["randomisation"]
        assert isinstance(start_value, dt.date)
        start: dt.date = start_value
        progression, death, therapy = (
            row.get("progression"),
            row.get("death"),
            row.get("new_therapy"),
        )
        news = row["last_news"]
        for name, value in (
            ("progression", progression),
            ("new therapy", therapy),
            ("last news", news),
        ):
            _check_order(subject, "randomisation", start, name, value)
        _check_order(subject, "randomisation", start, "death", death)
        _check_order(subject, "progression", progression, "death", death)
        _check_order(subject, "last news", news, "death", death)
        _check_order(subject, "new therapy", therapy, "death", death)
        dates = sorted(d for d in dates_by_subject.get(subject, []) if d >= start)
        if dates and isinstance(death, dt.date) and dates[-1] > death:
            raise AnalysisInputError(
                f"Subject {subject}: a tumour assessment on {dates[-1]} is after death on {death}.",
                subject=subject,
                parameter="date",
            )
        candidates = [
            (d, k)
            for d, k in ((progression, "progression"), (death, "death"))
            if isinstance(d, dt.date)
        ]
        event = min(candidates) if candidates else None

        def last_before(
            day: dt.date,
            *,
            inclusive: bool,
            dates: list[dt.date] = dates,
            start: dt.date = start,
        ) -> dt.date:
            # No adequate assessment after randomisation: censor on day 0 (FDA 2018).
            eligible = [d for d in dates if d < day or (inclusive and d == day)]
            return eligible[-1] if eligible else start

        if (
            rules.censor_at_new_anticancer_therapy
            and isinstance(therapy, dt.date)
            and (event is None or therapy < event[0])
        ):
            censor = last_before(therapy, inclusive=True)
            out.append(
                (
                    subject,
                    (censor - start).days,
                    False,
                    censor,
                    f"new anticancer therapy on {therapy} before any progression or death: "
                    f"censored at the last adequate assessment before it ({censor}).",
                )
            )
        elif event is not None:
            day, kind = event
            previous = last_before(day, inclusive=False)
            gap = (day - previous).days
            if limit is not None and gap > limit:
                out.append(
                    (
                        subject,
                        (previous - start).days,
                        False,
                        previous,
                        f"{kind} on {day} came {gap} days after the last adequate assessment "
                        f"({previous}), more than {rules.missed_assessments} missed assessments "
                        f"(> {limit} days): censored at {previous}.",
                    )
                )
            else:
                out.append((subject, (day - start).days, True, day, f"{kind} on {day}: event."))
        else:
            censor = dates[-1] if dates else start
            where = (
                "last adequate assessment" if dates else "randomisation (no assessment after it)"
            )
            out.append(
                (
                    subject,
                    (censor - start).days,
                    False,
                    censor,
                    f"no progression or death: censored at the {where} on {censor}.",
                )
            )
    return DerivedEndpoint(
        "Progression-free survival",
        pl.DataFrame(out, schema=_DERIVED_SCHEMA, orient="row"),
        settings,
        (Convention.PROGRESSION_FREE,),
    )


__all__ = ["DerivedEndpoint", "overall_survival", "progression_free_survival"]
