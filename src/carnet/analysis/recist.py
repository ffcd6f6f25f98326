"""RECIST 1.1 tumour response: time-point responses, best overall response, response rate."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import polars as pl

from carnet.analysis._checks import require_columns, require_no_nulls
from carnet.analysis.errors import AnalysisInputError
from carnet.analysis.settings import (
    DEFAULT_SETTINGS,
    AnalysisSettings,
    Convention,
    ResponseRules,
)


class Response(StrEnum):
    """A RECIST 1.1 response category (Eisenhauer et al. 2009)."""

    CR = "CR"
    PR = "PR"
    SD = "SD"
    NON_CR_NON_PD = "NON-CR/NON-PD"  # only non-target disease, neither gone nor progressing
    PD = "PD"
    NE = "NE"


class NonTargetStatus(StrEnum):
    """How an investigator records one non-target lesion at a visit."""

    ABSENT = "absent"
    PRESENT = "present"
    PROGRESSION = "progression"  # unequivocal progression
    NOT_EVALUATED = "not evaluated"


def target_response(
    diameters: list[float | None],
    nodes: list[bool],
    *,
    baseline_sum: float,
    nadir: float,
) -> Response:
    """Return the target-lesion response from this visit's diameters (mm).

    Non-nodal lesions count by longest diameter, lymph nodes by short axis. PD needs the sum to
    rise by at least 20% above the nadir (smallest sum on study, baseline included) *and* by at
    least 5 mm; PR needs a fall of at least 30% from the baseline sum; CR needs every non-nodal
    lesion gone and every node below 10 mm. A missing diameter makes the visit NE unless the
    measured lesions alone already show PD.

    Examples
    --------
    >>> target_response([70.0], [False], baseline_sum=100.0, nadir=100.0)
    <Response.PR: 'PR'>
    >>> target_response([84.0], [False], baseline_sum=100.0, nadir=70.0)
    <Response.PD: 'PD'>
    >>> target_response([24.0], [False], baseline_sum=20.0, nadir=20.0)  # +20% but only 4 mm
    <Response.SD: 'SD'>
    >>> target_response([0.0, 8.0], [False, True], baseline_sum=40.0, nadir=40.0)
    <Response.CR: 'CR'>
    """
    measured = [d for d in diameters if d is not None]
    total = sum(measured)
    # Exact for whole millimetres, unlike 1.2 * nadir in floating point:
    # 5 * sum >= 6 * nadir is "up 20%", 10 * sum <= 7 * baseline is "down 30%".
    progression = 5 * total >= 6 * nadir and total - nadir >= 5
    if progression:
        return Response.PD
    if len(measured) < len(diameters):
        return Response.NE
    gone = all((d < 10 if node else d == 0) for d, node in zip(measured, nodes, strict=True))
    if gone:
        return Response.CR
    if 10 * total <= 7 * baseline_sum:
        return Response.PR
    return Response.SD


def non_target_response(statuses: list[NonTargetStatus]) -> Response | None:
    """Return the non-target response (CR, NON-CR/NON-PD, PD, NE), or None without non-targets."""
    if not statuses:
        return None
    if NonTargetStatus.PROGRESSION in statuses:
        return Response.PD
    if NonTargetStatus.NOT_EVALUATED in statuses:
        return Response.NE
    if all(s is NonTargetStatus.ABSENT for s in statuses):
        return Response.CR
    return Response.NON_CR_NON_PD


def overall_response(
    target: Response | None, non_target: Response | None, *, new_lesion: bool
) -> Response:
    """Return a time point's overall response from its parts (Eisenhauer 2009, tables 1 and 2).

    Examples
    --------
    >>> overall_response(Response.CR, Response.NON_CR_NON_PD, new_lesion=False)
    <Response.PR: 'PR'>
    >>> overall_response(Response.SD, None, new_lesion=True)
    <Response.PD: 'PD'>
    """
    if new_lesion or target is Response.PD or non_target is Response.PD:
        return Response.PD
    if target is None:
        # Table 2: non-target disease only.
        return non_target if non_target is not None else Response.NE
    if target is Response.CR:
        return Response.CR if non_target in (None, Response.CR) else Response.PR
    return target  # PR, SD or NE whatever the non-PD non-target state (table 1)


@dataclass(frozen=True)
class TimePointResponses:
    """RECIST 1.1 responses per subject and post-baseline visit.

    ``frame`` has ``subject, date, target_sum, nadir, target, non_target, new_lesion, overall``.
    """

    frame: pl.DataFrame
    settings: AnalysisSettings

    def __str__(self) -> str:
        return (
            f"RECIST 1.1 time-point responses: {self.frame.height} assessments of "
            f"{self.frame['subject'].n_unique()} subjects (PD: sum +20% over nadir and +5 mm, "
            "or new lesion, or unequivocal non-target progression, or disease back after a CR).\n"
            + self.settings.describe(Convention.RESPONSE)
        )


_TIME_POINT_SCHEMA = {
    "subject": pl.String,
    "date": pl.Date,
    "target_sum": pl.Float64,
    "nadir": pl.Float64,
    "target": pl.String,
    "non_target": pl.String,
    "new_lesion": pl.Boolean,
    "overall": pl.String,
}


def time_point_responses(
    baselines: pl.DataFrame,
    targets: pl.DataFrame,
    non_targets: pl.DataFrame | None = None,
    new_lesions: pl.DataFrame | None = None,
    *,
    settings: AnalysisSettings = DEFAULT_SETTINGS,
) -> TimePointResponses:
    """Return the RECIST 1.1 overall response of every post-baseline assessment.

    Parameters
    ----------
    baselines
        ``subject, baseline`` (pl.Date): the date of each subject's baseline assessment.
    targets
        ``subject, date, lesion, diameter`` (mm; null when not evaluated), ``node`` (bool, lymph
        node measured by short axis) and optionally ``organ``. Target lesions are those measured
        at baseline: at most 5, at most 2 per organ.
    non_targets
        ``subject, date, lesion, status`` (a :class:`NonTargetStatus` value).
    new_lesions
        ``subject, date``: one row per new lesion found at a visit.

    Examples
    --------
    >>> day = dt.date
    >>> baselines = pl.DataFrame({"subject": ["001"], "baseline": [day(2024, 1, 1)]})
    >>> targets = pl.DataFrame(
    ...     {
    ...         "subject": ["001"] * 3,
    ...         "date": [day(2024, 1, 1), day(2024, 3, 1), day(2024, 5, 1)],
    ...         "lesion": ["T1"] * 3,
    ...         "diameter": [100.0, 70.0, 84.0],
    ...         "node": [False] * 3,
    ...     }
    ... )
    >>> time_point_responses(baselines, targets).frame.select("date", "nadir", "overall").rows()
    [(datetime.date(2024, 3, 1), 100.0, 'PR'), (datetime.date(2024, 5, 1), 70.0, 'PD')]
    """
    require_columns(baselines, ["subject", "baseline"], what="baselines")
    require_no_nulls(baselines, ["subject", "baseline"], subject="subject", what="Baselines")
    baseline_of = {
        str(s): d
        for s, d in baselines.select(pl.col("subject").cast(pl.String), "baseline").iter_rows()
    }
    baseline_lesions, visits = _target_measurements(targets, baseline_of)
    _check_target_choice(baseline_lesions, visits)
    non_target_visits = _non_target_assessments(non_targets, baseline_of)
    new_lesion_dates = _new_lesion_dates(new_lesions, baseline_of)
    rows = []
    for subject in sorted(baseline_of):
        rows.extend(
            _subject_time_points(
                subject,
                baseline_of[subject],
                baseline_lesions.get(subject, {}),
                visits[subject],
                non_target_visits[subject],
                new_lesion_dates[subject],
                settings.response,
            )
        )
    return TimePointResponses(pl.DataFrame(rows, schema=_TIME_POINT_SCHEMA, orient="row"), settings)


# subject -> lesion -> (node, organ)
_BaselineLesions = dict[str, dict[str, tuple[bool, str | None]]]
# subject -> date -> lesion -> diameter (None: not evaluated)
_Measurements = dict[str, dict[dt.date, dict[str, float | None]]]


def _checked_baseline(
    baseline_of: dict[str, dt.date], subject: str, date: dt.date, what: str
) -> dt.date:
    """Return the subject's baseline date, once ``date`` (of ``what``) is not before it."""
    if subject not in baseline_of:
        raise AnalysisInputError(
            f"Subject {subject} has {what} but no baseline assessment date.", subject=subject
        )
    baseline = baseline_of[subject]
    if date < baseline:
        raise AnalysisInputError(
            f"Subject {subject}: a {what} is dated {date}, before the baseline assessment "
            f"on {baseline}.",
            subject=subject,
            parameter="date",
        )
    return baseline


def _target_measurements(
    targets: pl.DataFrame, baseline_of: dict[str, dt.date]
) -> tuple[_BaselineLesions, _Measurements]:
    """Return the target lesions chosen at baseline and every measurement of them, checked."""
    require_columns(targets, ["subject", "date", "lesion", "diameter", "node"], what="targets")
    require_no_nulls(
        targets, ["subject", "date", "lesion", "node"], subject="subject", what="Targets"
    )
    has_organ = "organ" in targets.columns
    baseline_lesions: _BaselineLesions = defaultdict(dict)
    visits: _Measurements = defaultdict(lambda: defaultdict(dict))
    columns = ["subject", "date", "lesion", "diameter", "node"] + (["organ"] if has_organ else [])
    for record in (
        targets.select(columns)
        .with_columns(pl.col("subject").cast(pl.String), pl.col("lesion").cast(pl.String))
        .iter_rows(named=True)
    ):
        subject, date, lesion, diameter = (
            record["subject"],
            record["date"],
            record["lesion"],
            record["diameter"],
        )
        baseline = _checked_baseline(baseline_of, subject, date, "target lesion measurement")
        if diameter is not None and diameter < 0:
            raise AnalysisInputError(
                f"Subject {subject}: target lesion {lesion} has a negative diameter on {date}.",
                subject=subject,
                parameter="diameter",
            )
        if date == baseline:
            _check_measurable(subject, lesion, diameter, node=bool(record["node"]))
            baseline_lesions[subject][lesion] = (bool(record["node"]), record.get("organ"))
        visits[subject][date][lesion] = diameter
    return baseline_lesions, visits


def _check_measurable(subject: str, lesion: str, diameter: float | None, *, node: bool) -> None:
    """Refuse a target lesion not measurable at baseline: >= 10 mm longest diameter, >= 15 mm
    short axis for a lymph node."""
    if diameter is None:
        raise AnalysisInputError(
            f"Subject {subject}: target lesion {lesion} is not measured at baseline.",
            subject=subject,
            parameter="diameter",
        )
    least = 15 if node else 10
    if diameter < least:
        raise AnalysisInputError(
            f"Subject {subject}: target lesion {lesion} measures {diameter:g} mm at "
            f"baseline, below the {least} mm a measurable "
            f"{'lymph node' if node else 'lesion'} needs.",
            subject=subject,
            parameter="diameter",
        )


def _check_target_choice(baseline_lesions: _BaselineLesions, visits: _Measurements) -> None:
    """Refuse more than 5 targets, more than 2 per organ, or a target not chosen at baseline."""
    for subject, chosen in baseline_lesions.items():
        if len(chosen) > 5:
            raise AnalysisInputError(
                f"Subject {subject} has {len(chosen)} target lesions; RECIST 1.1 allows 5.",
                subject=subject,
            )
        organs = [organ for _, organ in chosen.values() if organ is not None]
        for organ in set(organs):
            if organs.count(organ) > 2:
                raise AnalysisInputError(
                    f"Subject {subject} has {organs.count(organ)} target lesions in {organ}; "
                    "RECIST 1.1 allows 2 per organ.",
                    subject=subject,
                )
    for subject, by_date in visits.items():
        for date, measured in by_date.items():
            for lesion in measured:
                if lesion not in baseline_lesions.get(subject, {}):
                    raise AnalysisInputError(
                        f"Subject {subject}: target lesion {lesion} measured on {date} was not a "
                        "target at baseline (targets are chosen at baseline only).",
                        subject=subject,
                        parameter="lesion",
                    )


def _non_target_assessments(
    non_targets: pl.DataFrame | None, baseline_of: dict[str, dt.date]
) -> dict[str, dict[dt.date, dict[str, NonTargetStatus]]]:
    """Return subject -> date -> non-target lesion -> status, checked."""
    non_target_visits: dict[str, dict[dt.date, dict[str, NonTargetStatus]]] = defaultdict(
        lambda: defaultdict(dict)
    )
    if non_targets is None:
        return non_target_visits
    require_columns(non_targets, ["subject", "date", "lesion", "status"], what="non-targets")
    require_no_nulls(
        non_targets,
        ["subject", "date", "lesion", "status"],
        subject="subject",
        what="Non-targets",
    )
    for subject, date, lesion, status in non_targets.select(
        pl.col("subject").cast(pl.String), "date", pl.col("lesion").cast(pl.String), "status"
    ).iter_rows():
        _checked_baseline(baseline_of, subject, date, "non-target lesion assessment")
        try:
            non_target_visits[subject][date][lesion] = NonTargetStatus(status)
        except ValueError:
            raise AnalysisInputError(
                f"Subject {subject}: non-target status {status!r} on {date} is not one of "
                f"{', '.join(s.value for s in NonTargetStatus)}.",
                subject=subject,
                parameter="status",
            ) from None
    return non_target_visits


def _new_lesion_dates(
    new_lesions: pl.DataFrame | None, baseline_of: dict[str, dt.date]
) -> dict[str, set[dt.date]]:
    """Return subject -> the dates a new lesion was found (never at baseline)."""
    new_lesion_dates: dict[str, set[dt.date]] = defaultdict(set)
    if new_lesions is None:
        return new_lesion_dates
    require_columns(new_lesions, ["subject", "date"], what="new lesions")
    require_no_nulls(new_lesions, ["subject", "date"], subject="subject", what="New lesions")
    for subject, date in new_lesions.select(pl.col("subject").cast(pl.String), "date").iter_rows():
        if date == _checked_baseline(baseline_of, subject, date, "new lesion"):
            raise AnalysisInputError(
                f"Subject {subject}: a new lesion cannot be found at the baseline assessment.",
                subject=subject,
                parameter="date",
            )
        new_lesion_dates[subject].add(date)
    return new_lesion_dates


def _subject_time_points(
    subject: str,
    baseline: dt.date,
    lesions: dict[str, tuple[bool, str | None]],
    visits: dict[dt.date, dict[str, float | None]],
    non_target_visits: dict[dt.date, dict[str, NonTargetStatus]],
    new_lesion_dates: set[dt.date],
    rules: ResponseRules,
) -> list[tuple[Any, ...]]:
    """Return one subject's post-baseline assessments, in date order, with their responses.

    Once a complete response is established (confirmed, when the plan requires confirmation),
    any disease seen later has come back: a target lesion measurable again (a node at 10 mm or
    more) or a non-target lesion present is PD whatever the sum (Eisenhauer 2009, table 3
    footnote; EORTC RECIST FAQ). An unconfirmed CR followed by disease was probably a PR read as
    CR, so the lesions are judged on the sum as usual.
    """
    names = sorted(lesions)
    baseline_sum = sum(visits[baseline][n] or 0.0 for n in names)
    baseline_non_targets = sorted(non_target_visits.get(baseline, {}))
    dates = sorted(
        {d for d in visits if d != baseline}
        | {d for d in non_target_visits if d != baseline}
        | new_lesion_dates
    )
    nadir = baseline_sum
    rows: list[tuple[Any, ...]] = []
    # Date of the first CR of the current run of complete responses, and whether it is established.
    complete_since: dt.date | None = None
    established = False
    gap = dt.timedelta(days=rules.confirmation_interval_days)
    for date in dates:
        target: Response | None = None
        total: float | None = None
        if names:
            diameters = [visits.get(date, {}).get(n) for n in names]
            target = target_response(
                diameters,
                [lesions[n][0] for n in names],
                baseline_sum=baseline_sum,
                nadir=nadir,
            )
            known = [d for d in diameters if d is not None]
            total = float(sum(known)) if len(known) == len(names) else None
        recorded = non_target_visits.get(date, {})
        statuses = [recorded.get(n, NonTargetStatus.NOT_EVALUATED) for n in baseline_non_targets]
        non_target = non_target_response(statuses)
        new = date in new_lesion_dates
        if established:
            measured = [visits.get(date, {}).get(n) for n in names]
            target_back = any(
                d is not None and (d >= 10 if lesions[n][0] else d > 0)
                for n, d in zip(names, measured, strict=True)
            )
            non_target_back = any(
                s in (NonTargetStatus.PRESENT, NonTargetStatus.PROGRESSION) for s in statuses
            )
            if target_back:
                target = Response.PD
            if non_target_back:
                non_target = Response.PD
        overall = overall_response(target, non_target, new_lesion=new)
        if overall is Response.CR:
            complete_since = complete_since or date
            established = established or not rules.confirmation or date - complete_since >= gap
        elif overall is not Response.NE:
            complete_since, established = None, False
        rows.append(
            (
                subject,
                date,
                total,
                nadir if names else None,
                target.value if target else None,
                non_target.value if non_target else None,
                new,
                overall.value,
            )
        )
        if total is not None:
            nadir = min(nadir, total)
    return rows


_RANK = {
    Response.CR: 0,
    Response.PR: 1,
    Response.SD: 2,
    Response.NON_CR_NON_PD: 2,
    Response.PD: 3,
    Response.NE: 4,
}


@dataclass(frozen=True)
class BestOverallResponses:
    """Best overall response per subject: ``subject, best_response, date, confirmed_on, reason``."""

    frame: pl.DataFrame
    settings: AnalysisSettings

    def __str__(self) -> str:
        counts = self.frame["best_response"].value_counts(sort=True).rows()
        listed = ", ".join(f"{k} {v}" for k, v in counts)
        return f"Best overall response ({listed}).\n{self.settings.describe(Convention.RESPONSE)}"


def best_overall_response(
    responses: TimePointResponses,
    references: pl.DataFrame,
    *,
    settings: AnalysisSettings | None = None,
) -> BestOverallResponses:
    """Return each subject's best overall response, confirmed and timed per the settings.

    Only assessments up to the first PD count. With confirmation, a CR needs a later CR at least
    ``confirmation_interval_days`` after it, and a PR a later PR or CR that far after it (a CR
    followed by a PR confirms nothing: the disease has come back, Eisenhauer 2009 table 3).
    SD (or NON-CR/NON-PD) needs an assessment at least ``minimum_stable_disease_days`` after the
    reference date; an unconfirmed response counts as SD there. Otherwise the best is PD if
    progression was seen, else NE.

    ``references`` has ``subject, reference`` (pl.Date; usually randomisation).
    """
    settings = settings if settings is not None else responses.settings
    require_columns(references, ["subject", "reference"], what="references")
    require_no_nulls(references, ["subject", "reference"], subject="subject", what="References")
    reference_of = {
        str(s): d
        for s, d in references.select(pl.col("subject").cast(pl.String), "reference").iter_rows()
    }
    by_subject: dict[str, list[tuple[dt.date, Response]]] = defaultdict(list)
    for subject, date, overall in responses.frame.select("subject", "date", "overall").iter_rows():
        by_subject[subject].append((date, Response(overall)))
    rows = []
    for subject in sorted(set(reference_of) | set(by_subject)):
        if subject not in reference_of:
            raise AnalysisInputError(
                f"Subject {subject} has assessments but no reference date.", subject=subject
            )
        rows.append(
            (subject, *_best(sorted(by_subject.get(subject, [])), reference_of[subject], settings))
        )
    return BestOverallResponses(
        pl.DataFrame(
            rows,
            schema={
                "subject": pl.String,
                "best_response": pl.String,
                "date": pl.Date,
                "confirmed_on": pl.Date,
                "reason": pl.String,
            },
            orient="row",
        ),
        settings,
    )


def _confirmed(
    counted: list[tuple[dt.date, Response]], level: Response, gap: dt.timedelta
) -> tuple[dt.date, dt.date] | None:
    """Return the first response of ``level`` (CR, or PR or better) confirmed by a later one at
    least ``gap`` after it, with the confirming date; None if there is none."""
    accepted = {Response.CR} if level is Response.CR else {Response.CR, Response.PR}
    for i, (date, response) in enumerate(counted):
        if response not in accepted:
            continue
        for later_date, later in counted[i + 1 :]:
            if later is Response.PD:
                break
            if response is Response.CR and later is Response.PR:
                break  # reappearance after CR confirms nothing
            if later in accepted and later_date - date >= gap:
                return date, later_date
    return None


def _best(
    visits: list[tuple[dt.date, Response]], reference: dt.date, settings: AnalysisSettings
) -> tuple[str, dt.date | None, dt.date | None, str]:
    rules = settings.response
    first_pd = next((i for i, (_, r) in enumerate(visits) if r is Response.PD), None)
    counted = visits if first_pd is None else visits[: first_pd + 1]
    gap = dt.timedelta(days=rules.confirmation_interval_days)
    if rules.confirmation:
        for level in (Response.CR, Response.PR):
            found = _confirmed(counted, level, gap)
            if found:
                return (
                    level.value,
                    found[0],
                    found[1],
                    f"{level.value} on {found[0]} confirmed on {found[1]}.",
                )
    else:
        for level in (Response.CR, Response.PR):
            date = next((d for d, r in counted if r is level), None)
            if date is not None:
                return (
                    level.value,
                    date,
                    None,
                    f"{level.value} on {date} (no confirmation required).",
                )
    least = reference + dt.timedelta(days=rules.minimum_stable_disease_days)
    stable = [
        (d, r)
        for d, r in counted
        if r in (Response.CR, Response.PR, Response.SD, Response.NON_CR_NON_PD) and d >= least
    ]
    if stable:
        date, response = stable[0]
        label = Response.NON_CR_NON_PD if response is Response.NON_CR_NON_PD else Response.SD
        extra = " (response not confirmed)" if response in (Response.CR, Response.PR) else ""
        return (
            label.value,
            date,
            None,
            f"{label.value} on {date}, at least {rules.minimum_stable_disease_days} days after "
            f"{reference}{extra}.",
        )
    if first_pd is not None:
        date = visits[first_pd][0]
        return Response.PD.value, date, None, f"PD on {date} before any qualifying SD or response."
    if not visits:
        return Response.NE.value, None, None, "no assessment after baseline."
    return (
        Response.NE.value,
        None,
        None,
        f"no response confirmed, no SD at least {rules.minimum_stable_disease_days} days after "
        f"{reference}, no PD.",
    )


@dataclass(frozen=True)
class ResponseRate:
    """Objective response rate (CR + PR) with its exact Clopper-Pearson interval."""

    responders: int
    subjects: int
    rate: float
    lower: float
    upper: float
    counts: dict[str, int]
    settings: AnalysisSettings

    def __str__(self) -> str:
        level = f"{self.settings.confidence_level * 100:g}%"
        listed = ", ".join(f"{k} {v}" for k, v in self.counts.items())
        return (
            f"Objective response rate {self.responders}/{self.subjects} = {self.rate:.1%} "
            f"({level} CI {self.lower:.1%}-{self.upper:.1%}, exact Clopper-Pearson); {listed}.\n"
            + self.settings.describe(Convention.CONFIDENCE_LEVEL, Convention.RESPONSE)
        )


def clopper_pearson(successes: int, trials: int, confidence_level: float) -> tuple[float, float]:
    """Return the exact (Clopper-Pearson) interval for a binomial proportion.

    Examples
    --------
    >>> tuple(round(x, 4) for x in clopper_pearson(7, 20, 0.95))
    (0.1539, 0.5922)
    """
    from scipy import stats

    if trials <= 0:
        raise AnalysisInputError("A rate needs at least one subject.", parameter="trials")
    if not 0 <= successes <= trials:
        raise AnalysisInputError(
            f"successes ({successes}) must lie between 0 and trials ({trials}).",
            parameter="successes",
        )
    tail = (1 - confidence_level) / 2
    lower = (
        0.0 if successes == 0 else float(stats.beta.ppf(tail, successes, trials - successes + 1))
    )
    upper = (
        1.0
        if successes == trials
        else float(stats.beta.ppf(1 - tail, successes + 1, trials - successes))
    )
    return lower, upper


def objective_response_rate(
    best: BestOverallResponses,
    population: pl.Series | list[str],
    *,
    settings: AnalysisSettings | None = None,
) -> ResponseRate:
    """Return the objective response rate over an explicit analysis population.

    Every subject of ``population`` is in the denominator; one without a best overall response
    counts as NE (a non-responder), as ITT requires.

    Examples
    --------
    >>> best = BestOverallResponses(
    ...     pl.DataFrame({"subject": ["1", "2", "3"], "best_response": ["PR", "SD", "CR"]}),
    ...     DEFAULT_SETTINGS,
    ... )
    >>> rate = objective_response_rate(best, ["1", "2", "3", "4"])
    >>> rate.responders, rate.subjects, rate.counts["NE"]
    (2, 4, 1)
    """
    settings = settings if settings is not None else best.settings
    subjects = [str(s) for s in population]
    if len(set(subjects)) != len(subjects):
        raise AnalysisInputError("The population lists a subject twice.", parameter="population")
    best_of = dict(best.frame.select("subject", "best_response").iter_rows())
    # Subjects outside the population are not counted: the population is the analysis set.
    categories = [best_of.get(s, Response.NE.value) for s in subjects]
    counts = {r.value: categories.count(r.value) for r in Response}
    responders = counts[Response.CR.value] + counts[Response.PR.value]
    lower, upper = clopper_pearson(responders, len(subjects), settings.confidence_level)
    return ResponseRate(
        responders, len(subjects), responders / len(subjects), lower, upper, counts, settings
    )


__all__ = [
    "BestOverallResponses",
    "NonTargetStatus",
    "Response",
    "ResponseRate",
    "TimePointResponses",
    "best_overall_response",
    "clopper_pearson",
    "non_target_response",
    "objective_response_rate",
    "overall_response",
    "target_response",
    "time_point_responses",
]
