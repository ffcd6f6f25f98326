"""Kaplan-Meier estimates, log-rank tests and Cox models on time-to-event frames."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from carnet.analysis._checks import require_no_nulls
from carnet.analysis._frames import labels, require_events, strata_labels, time_and_event
from carnet.analysis.errors import AnalysisInputError
from carnet.analysis.settings import (
    DEFAULT_SETTINGS,
    AnalysisSettings,
    Convention,
    CoxTies,
    IntervalTransform,
)

# Comparisons of survival probabilities with a target (0.5 for the median) use R's tolerance,
# so that a curve sitting exactly on 0.5 after floating-point products is seen as on it.
_TOLERANCE = math.sqrt(np.finfo(float).eps)


def _show(value: float | None) -> str:
    """Return a time for printing; NR when not reached."""
    return "NR" if value is None else f"{value:g}"


@dataclass(frozen=True)
class SurvivalQuantile:
    """Time by which a fraction of subjects have had the event, with its confidence interval.

    ``None`` means the curve (or its confidence limit) never falls that low: not reached.
    """

    probability: float
    time: float | None
    lower: float | None
    upper: float | None

    def __str__(self) -> str:
        return f"{_show(self.time)} ({_show(self.lower)}-{_show(self.upper)})"


@dataclass(frozen=True)
class SurvivalCurve:
    """One Kaplan-Meier curve: its step table, quantiles and values at requested times.

    Attributes
    ----------
    table
        One row per distinct time: ``time, at_risk, events, censored, survival, std_error,
        lower, upper`` (standard error of S by Greenwood).
    at_times
        One row per requested time: ``time, survival, lower, upper, at_risk``; survival is null
        beyond the last follow-up time, where the curve is not estimated.
    """

    group: str | None
    subjects: int
    events: int
    table: pl.DataFrame
    median: SurvivalQuantile
    first_quartile: SurvivalQuantile
    third_quartile: SurvivalQuantile
    at_times: pl.DataFrame


@dataclass(frozen=True)
class KaplanMeierResult:
    """Kaplan-Meier curves, one per group, with the settings they were computed with."""

    curves: tuple[SurvivalCurve, ...]
    settings: AnalysisSettings
    time_unit: str

    def curve(self, group: str | None = None) -> SurvivalCurve:
        """Return the curve of one group (or the only curve)."""
        for curve in self.curves:
            if curve.group == group or (group is None and len(self.curves) == 1):
                return curve
        raise AnalysisInputError(f"No curve for group {group!r}.", parameter="group")

    def __str__(self) -> str:
        level = f"{self.settings.confidence_level * 100:g}%"
        lines = [
            f"Kaplan-Meier ({self.time_unit}); {level} CI from Greenwood variance, "
            f"{self.settings.interval_transform.value} transform; quantile CI by "
            "Brookmeyer-Crowley inversion of the pointwise interval.",
            f"{'group':<12} {'n':>6} {'events':>7}  median ({level} CI)     Q1 / Q3",
        ]
        for curve in self.curves:
            name = curve.group if curve.group is not None else "all"
            lines.append(
                f"{name:<12} {curve.subjects:>6} {curve.events:>7}  {curve.median!s:<20} "
                f"{_show(curve.first_quartile.time)} / {_show(curve.third_quartile.time)}"
            )
        lines.append(
            self.settings.describe(Convention.CONFIDENCE_LEVEL, Convention.INTERVAL_TRANSFORM)
        )
        return "\n".join(lines)


def kaplan_meier(
    frame: pl.DataFrame,
    *,
    time: str = "time",
    event: str = "event",
    group: str | None = None,
    at: Sequence[float] = (),
    subject: str | None = "subject",
    settings: AnalysisSettings = DEFAULT_SETTINGS,
    time_unit: str = "days",
) -> KaplanMeierResult:
    """Return Kaplan-Meier curves with Greenwood intervals on the settings' transform.

    The median and quartiles follow R's ``survfit``: the first time the curve falls to or below
    the target, or the midpoint to the next event time when it sits exactly on it; their intervals
    invert the pointwise interval (Brookmeyer and Crowley 1982).

    Parameters
    ----------
    frame
        One row per subject.
    time, event
        Columns of follow-up time (>= 0) and event indicator (1/true event, 0/false censored).
    group
        Optional column giving one curve per value (arm).
    at
        Times at which to report survival, its interval and the number at risk.
    subject
        Column naming subjects in error messages.

    Examples
    --------
    >>> frame = pl.DataFrame({"time": [1, 2, 2, 3, 4, 5], "event": [1, 1, 0, 1, 0, 1]})
    >>> curve = kaplan_meier(frame).curve()
    >>> steps = curve.table.select("time", "at_risk", "survival").rows()
    >>> [(t, n, round(s, 4)) for t, n, s in steps]
    [(1.0, 6, 0.8333), (2.0, 5, 0.6667), (3.0, 3, 0.4444), (4.0, 2, 0.4444), (5.0, 1, 0.0)]
    >>> curve.median.time
    3.0
    """
    from scipy import stats

    times, events = time_and_event(
        frame, time=time, event=event, subject=subject, what="Kaplan-Meier"
    )
    level = settings.confidence_level
    z = float(stats.norm.ppf(1 - (1 - level) / 2))
    at_values = np.asarray(sorted(float(t) for t in at), dtype=float)
    if (at_values < 0).any():
        raise AnalysisInputError("Times in 'at' cannot be negative.", parameter="at")
    if group is None:
        groups: list[tuple[str | None, np.ndarray]] = [(None, np.ones(times.size, dtype=bool))]
    else:
        group_labels = labels(frame, group, subject=subject, what="Kaplan-Meier")
        groups = [(str(g), group_labels == g) for g in np.unique(group_labels)]
    curves = tuple(
        _curve(name, times[mask], events[mask], z, settings.interval_transform, at_values)
        for name, mask in groups
    )
    return KaplanMeierResult(curves, settings, time_unit)


def _curve(
    name: str | None,
    times: np.ndarray,
    events: np.ndarray,
    z: float,
    transform: IntervalTransform,
    at_values: np.ndarray,
) -> SurvivalCurve:
    unique, inverse = np.unique(times, return_inverse=True)
    deaths = np.bincount(inverse, weights=events, minlength=unique.size)
    removed = np.bincount(inverse, minlength=unique.size).astype(float)
    at_risk = np.cumsum(removed[::-1])[::-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        survival = np.cumprod(1.0 - deaths / at_risk)
        # Greenwood: var(log S) = sum d / (n (n - d)); infinite once the curve reaches zero.
        increments = np.where(deaths > 0, deaths / (at_risk * (at_risk - deaths)), 0.0)
        var_log = np.cumsum(increments)
        # Zero once the curve reaches zero (the variance of log S is then infinite).
        std_error = np.where(survival > 0, survival * np.sqrt(var_log), 0.0)
    lower, upper = _interval(survival, np.sqrt(var_log), z, transform)
    table = pl.DataFrame(
        {
            "time": unique,
            "at_risk": at_risk.astype(np.int64),
            "events": deaths.astype(np.int64),
            "censored": (removed - deaths).astype(np.int64),
            "survival": survival,
            "std_error": std_error,
            "lower": lower,
            "upper": upper,
        }
    )
    event_rows = deaths > 0
    event_times = unique[event_rows]
    quantiles = [
        SurvivalQuantile(
            p,
            _quantile_time(event_times, survival[event_rows], 1 - p),
            # The lower curve reaches the target first, so it gives the lower time limit.
            _quantile_time(event_times, lower[event_rows], 1 - p),
            _quantile_time(event_times, upper[event_rows], 1 - p),
        )
        for p in (0.25, 0.5, 0.75)
    ]
    at_times = _values_at(unique, survival, lower, upper, times, at_values)
    return SurvivalCurve(
        name,
        int(times.size),
        int(events.sum()),
        table,
        quantiles[1],
        quantiles[0],
        quantiles[2],
        at_times,
    )


def _interval(
    survival: np.ndarray, se_log: np.ndarray, z: float, transform: IntervalTransform
) -> tuple[np.ndarray, np.ndarray]:
    """Return pointwise limits for S given the standard error of log S."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if transform is IntervalTransform.LOG:
            lower = survival * np.exp(-z * se_log)
            upper = np.minimum(survival * np.exp(z * se_log), 1.0)
        elif transform is IntervalTransform.LOG_LOG:
            log_s = np.log(survival)
            # se of log(-log S) is se(log S) / |log S|.
            theta = np.log(-log_s)
            spread = z * se_log / np.abs(log_s)
            lower = np.exp(-np.exp(theta + spread))
            upper = np.exp(-np.exp(theta - spread))
            # S = 1 (before the first event) has a degenerate interval at 1, as in SAS.
            lower = np.where(survival >= 1.0, 1.0, lower)
            upper = np.where(survival >= 1.0, 1.0, upper)
        else:
            lower = np.maximum(survival - z * survival * se_log, 0.0)
            upper = np.minimum(survival + z * survival * se_log, 1.0)
    # Once the curve reaches zero the variance is infinite; the interval collapses at zero.
    lower = np.where(survival <= 0.0, 0.0, np.nan_to_num(lower, nan=0.0))
    upper = np.where(survival <= 0.0, 0.0, np.nan_to_num(upper, nan=1.0))
    return lower, upper


def _quantile_time(event_times: np.ndarray, curve: np.ndarray, target: float) -> float | None:
    """Return the first time the step curve falls to ``target`` (midpoint if it stays on it)."""
    reached = np.nonzero(curve <= target + _TOLERANCE)[0]
    if reached.size == 0:
        return None
    first = int(reached[0])
    if abs(curve[first] - target) < _TOLERANCE:
        # The curve sits on the target over [t_i, t_next): R reports the middle of that step.
        below = np.nonzero(curve < target - _TOLERANCE)[0]
        if below.size == 0:
            return None if first == curve.size - 1 else float(event_times[first])
        return float((event_times[first] + event_times[int(below[0])]) / 2)
    return float(event_times[first])


def _values_at(
    unique: np.ndarray,
    survival: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    times: np.ndarray,
    at_values: np.ndarray,
) -> pl.DataFrame:
    position = np.searchsorted(unique, at_values, side="right") - 1
    beyond = at_values > (unique[-1] if unique.size else -1.0)

    def pick(values: np.ndarray, default: float) -> list[float | None]:
        return [
            None if out else (default if p < 0 else float(values[p]))
            for p, out in zip(position, beyond, strict=True)
        ]

    sorted_times = np.sort(times)
    at_risk = sorted_times.size - np.searchsorted(sorted_times, at_values, side="left")
    return pl.DataFrame(
        {
            "time": at_values,
            "survival": pick(survival, 1.0),
            "lower": pick(lower, 1.0),
            "upper": pick(upper, 1.0),
            "at_risk": at_risk.astype(np.int64),
        },
        schema={
            "time": pl.Float64,
            "survival": pl.Float64,
            "lower": pl.Float64,
            "upper": pl.Float64,
            "at_risk": pl.Int64,
        },
    )


@dataclass(frozen=True)
class LogRankResult:
    """A (stratified) log-rank test: observed and expected events per group, chi-square, p."""

    groups: tuple[str, ...]
    observed: tuple[float, ...]
    expected: tuple[float, ...]
    chi_square: float
    degrees_of_freedom: int
    p_value: float
    strata: tuple[str, ...]
    settings: AnalysisSettings

    def __str__(self) -> str:
        stratified = f"stratified by {', '.join(self.strata)}" if self.strata else "unstratified"
        lines = [f"Log-rank test ({stratified}):", f"{'group':<12} {'observed':>9} {'expected':>9}"]
        for name, o, e in zip(self.groups, self.observed, self.expected, strict=True):
            lines.append(f"{name:<12} {o:>9g} {e:>9.2f}")
        lines.append(
            f"Chi-square {self.chi_square:.2f} on {self.degrees_of_freedom} df, "
            f"p = {self.p_value:.3g}"
        )
        # The log-rank test depends on none of the plan's choices: nothing more to state.
        return "\n".join(lines)


def logrank(
    frame: pl.DataFrame,
    *,
    group: str,
    time: str = "time",
    event: str = "event",
    strata: Sequence[str] = (),
    subject: str | None = "subject",
    settings: AnalysisSettings = DEFAULT_SETTINGS,
) -> LogRankResult:
    """Return the log-rank test of equal survival across groups, stratified if asked.

    Observed minus expected and its hypergeometric variance are summed over strata (Mantel 1966),
    as R's ``survdiff(... + strata(s))``.

    Examples
    --------
    >>> frame = pl.DataFrame(
    ...     {"time": [1, 2, 3, 4, 5, 6], "event": [1, 1, 1, 1, 1, 1], "arm": list("AABABB")}
    ... )
    >>> result = logrank(frame, group="arm")
    >>> result.observed, round(result.chi_square, 3)
    ((3.0, 3.0), 2.557)
    """
    from scipy import stats

    what = "Log-rank"
    times, events = time_and_event(frame, time=time, event=event, subject=subject, what=what)
    require_events(events, event=event, what=what)
    group_labels = labels(frame, group, subject=subject, what=what)
    stratum_labels = strata_labels(frame, strata, subject=subject, what=what)
    names, group_index = np.unique(group_labels, return_inverse=True)
    k = names.size
    if k < 2:
        raise AnalysisInputError(
            f"The log-rank test needs at least two groups in {group!r}.", parameter=group
        )
    observed = np.zeros(k)
    expected = np.zeros(k)
    variance = np.zeros((k, k))
    for stratum in np.unique(stratum_labels):
        mask = stratum_labels == stratum
        o, e, v = _logrank_stratum(times[mask], events[mask], group_index[mask], k)
        observed += o
        expected += e
        variance += v
    difference = (observed - expected)[:-1]
    chi_square = float(difference @ np.linalg.solve(variance[:-1, :-1], difference))
    df = k - 1
    return LogRankResult(
        tuple(str(n) for n in names),
        tuple(float(o) for o in observed),
        tuple(float(e) for e in expected),
        chi_square,
        df,
        float(stats.chi2.sf(chi_square, df)),
        tuple(strata),
        settings,
    )


def _logrank_stratum(
    times: np.ndarray, events: np.ndarray, group_index: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    unique, inverse = np.unique(times, return_inverse=True)
    m = unique.size
    cell = inverse * k + group_index
    deaths = np.bincount(cell, weights=events, minlength=m * k).reshape(m, k)
    removed = np.bincount(cell, minlength=m * k).reshape(m, k).astype(float)
    at_risk = np.cumsum(removed[::-1], axis=0)[::-1]
    keep = deaths.sum(axis=1) > 0
    deaths, at_risk = deaths[keep], at_risk[keep]
    d = deaths.sum(axis=1)
    n = at_risk.sum(axis=1)
    share = at_risk / n[:, None]
    expected = (d[:, None] * share).sum(axis=0)
    # Hypergeometric variance, with the (n - d) / (n - 1) factor for tied deaths.
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = np.where(n > 1, d * (n - d) / (n - 1), 0.0)
    variance = np.diag((factor[:, None] * share).sum(axis=0)) - np.einsum(
        "t,ti,tj->ij", factor, share, share
    )
    return deaths.sum(axis=0), expected, variance


@dataclass(frozen=True)
class CoxTerm:
    """One coefficient of a Cox model, with its hazard ratio and Wald test."""

    term: str
    coefficient: float
    std_error: float
    hazard_ratio: float
    lower: float
    upper: float
    z: float
    p_value: float


@dataclass(frozen=True)
class CoxResult:
    """A fitted Cox proportional-hazards model with its three global tests."""

    terms: tuple[CoxTerm, ...]
    subjects: int
    events: int
    log_likelihood: float
    null_log_likelihood: float
    wald: float
    likelihood_ratio: float
    score: float
    degrees_of_freedom: int
    strata: tuple[str, ...]
    reference_arm: str | None
    iterations: int
    settings: AnalysisSettings

    def term(self, name: str) -> CoxTerm:
        """Return the coefficient called ``name`` (e.g. ``"arm=B"``)."""
        for term in self.terms:
            if term.term == name:
                return term
        raise AnalysisInputError(
            f"No term {name!r}; the model has {', '.join(t.term for t in self.terms)}.",
            parameter="name",
        )

    def p_value(self, test: str) -> float:
        """Return the chi-square p-value of ``"wald"``, ``"likelihood_ratio"`` or ``"score"``."""
        from scipy import stats

        return float(stats.chi2.sf(getattr(self, test), self.degrees_of_freedom))

    def __str__(self) -> str:
        level = f"{self.settings.confidence_level * 100:g}%"
        stratified = f", stratified by {', '.join(self.strata)}" if self.strata else ""
        lines = [
            f"Cox proportional hazards ({self.settings.ties.value.capitalize()} ties{stratified}); "
            f"n = {self.subjects}, events = {self.events}"
            + (f"; reference arm {self.reference_arm}" if self.reference_arm is not None else ""),
            f"{'term':<16} {'coef':>8} {'se':>7} {'HR':>7}  {level} CI        {'z':>6} {'p':>8}",
        ]
        for t in self.terms:
            lines.append(
                f"{t.term:<16} {t.coefficient:>8.4f} {t.std_error:>7.4f} {t.hazard_ratio:>7.3f}  "
                f"{t.lower:.3f}-{t.upper:.3f}  {t.z:>6.2f} {t.p_value:>8.3g}"
            )
        df = self.degrees_of_freedom
        lines.append(
            f"Likelihood ratio {self.likelihood_ratio:.2f}, Wald {self.wald:.2f}, score "
            f"{self.score:.2f} on {df} df (p = {self.p_value('likelihood_ratio'):.3g}, "
            f"{self.p_value('wald'):.3g}, {self.p_value('score'):.3g})"
        )
        lines.append(self.settings.describe(Convention.CONFIDENCE_LEVEL, Convention.COX_TIES))
        if self.reference_arm is not None:
            chosen = " (first in order)" if self.settings.reference_arm is None else ""
            lines.append(f"Reference arm: {self.reference_arm}{chosen}.")
        return "\n".join(lines)


def _cox_design(
    frame: pl.DataFrame,
    *,
    arm: str | None,
    covariates: Sequence[str],
    subject: str | None,
    settings: AnalysisSettings,
) -> tuple[list[np.ndarray], list[str], str | None]:
    """Return the Cox model's design columns, their term names, and the reference arm.

    One indicator column per arm other than the reference; each covariate as it is.
    """
    what = "Cox model"
    columns: list[np.ndarray] = []
    names: list[str] = []
    reference: str | None = None
    if arm is not None:
        arm_labels = labels(frame, arm, subject=subject, what=what)
        levels = sorted(set(arm_labels.tolist()))
        reference = settings.reference_arm if settings.reference_arm is not None else levels[0]
        if reference not in levels:
            raise AnalysisInputError(
                f"The reference arm {reference!r} is not among the values of {arm!r} "
                f"({', '.join(levels)}).",
                parameter="reference_arm",
            )
        for level in levels:
            if level != reference:
                columns.append((arm_labels == level).astype(float))
                names.append(f"{arm}={level}")
    for column in covariates:
        if column not in frame.columns:
            raise AnalysisInputError(f"{what}: no column {column!r}.", parameter=column)
        if not frame[column].dtype.is_numeric() and frame[column].dtype != pl.Boolean:
            raise AnalysisInputError(
                f"{what}: covariate {column!r} must be numeric; code a category as an arm.",
                parameter=column,
            )
        require_no_nulls(frame, [column], subject=subject, what=what)
        columns.append(frame[column].cast(pl.Float64).to_numpy())
        names.append(column)
    if not columns:
        raise AnalysisInputError(
            "A Cox model needs an arm or at least one covariate.", parameter="covariates"
        )
    return columns, names, reference


def cox(
    frame: pl.DataFrame,
    *,
    time: str = "time",
    event: str = "event",
    arm: str | None = None,
    covariates: Sequence[str] = (),
    strata: Sequence[str] = (),
    subject: str | None = "subject",
    settings: AnalysisSettings = DEFAULT_SETTINGS,
) -> CoxResult:
    """Return a Cox proportional-hazards fit by Newton-Raphson on the partial likelihood.

    Ties follow ``settings.ties`` (Efron, as R and lifelines; Breslow, as SAS PHREG). A stratified
    model sums the partial log-likelihoods of the strata (separate baseline hazards). ``arm`` is
    coded against ``settings.reference_arm`` (or the first arm in sort order), one term
    ``"arm=<level>"`` per other arm; ``covariates`` are numeric columns entered as they are.

    Examples
    --------
    >>> frame = pl.DataFrame(
    ...     {
    ...         "time": [5, 8, 12, 3, 9, 15, 20, 7],
    ...         "event": [1, 1, 0, 1, 1, 0, 1, 1],
    ...         "arm": ["A", "A", "A", "A", "B", "B", "B", "B"],
    ...     }
    ... )
    >>> fit = cox(frame, arm="arm")
    >>> round(fit.term("arm=B").hazard_ratio, 3)
    0.401
    """
    from scipy import stats

    what = "Cox model"
    times, events = time_and_event(frame, time=time, event=event, subject=subject, what=what)
    require_events(events, event=event, what=what)
    columns, names, reference = _cox_design(
        frame, arm=arm, covariates=covariates, subject=subject, settings=settings
    )
    design = np.column_stack(columns)
    # Centring changes no coefficient but keeps exp(X beta) away from overflow.
    design = design - design.mean(axis=0)
    stratum_labels = strata_labels(frame, strata, subject=subject, what=what)
    prepared = [
        _prepare_stratum(times[mask], events[mask], design[mask])
        for mask in (stratum_labels == s for s in np.unique(stratum_labels))
    ]
    efron = settings.ties is CoxTies.EFRON
    p = design.shape[1]

    def evaluate(beta: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        total = 0.0
        gradient = np.zeros(p)
        information = np.zeros((p, p))
        for stratum in prepared:
            ll, g, h = _partial_likelihood(stratum, beta, efron)
            total += ll
            gradient += g
            information += h
        return total, gradient, information

    beta = np.zeros(p)
    null_ll, null_gradient, null_information = evaluate(beta)
    score = float(null_gradient @ _solve(null_information, null_gradient, names))
    ll, gradient, information = null_ll, null_gradient, null_information
    iterations = 0
    for iterations in range(1, 51):  # noqa: B007 (the count is reported)
        step = _solve(information, gradient, names)
        new_beta = beta + step
        new_ll, new_gradient, new_information = evaluate(new_beta)
        halvings = 0
        while new_ll < ll - 1e-12 and halvings < 20:
            # Step halving, as R's coxph, when Newton overshoots.
            step = step / 2
            new_beta = beta + step
            new_ll, new_gradient, new_information = evaluate(new_beta)
            halvings += 1
        converged = abs(new_ll - ll) < 1e-10 * max(1.0, abs(ll))
        beta, ll, gradient, information = new_beta, new_ll, new_gradient, new_information
        if converged:
            break
    else:
        raise AnalysisInputError(
            "The Cox model did not converge (monotone likelihood: an arm or covariate level "
            "without events, or a covariate that separates events perfectly).",
            parameter=names[int(np.argmax(np.abs(beta)))],
        )
    _refuse_monotone_likelihood(evaluate, beta, ll, information, gradient, names)
    covariance = np.linalg.inv(information)
    z_level = float(stats.norm.ppf(1 - (1 - settings.confidence_level) / 2))
    terms = []
    for index, name in enumerate(names):
        se = math.sqrt(covariance[index, index])
        coefficient = float(beta[index])
        z = coefficient / se
        terms.append(
            CoxTerm(
                name,
                coefficient,
                se,
                math.exp(coefficient),
                math.exp(coefficient - z_level * se),
                math.exp(coefficient + z_level * se),
                z,
                float(2 * stats.norm.sf(abs(z))),
            )
        )
    return CoxResult(
        tuple(terms),
        int(times.size),
        int(events.sum()),
        float(ll),
        float(null_ll),
        float(beta @ information @ beta),
        float(2 * (ll - null_ll)),
        score,
        p,
        tuple(strata),
        reference,
        iterations,
        settings,
    )


def _refuse_monotone_likelihood(
    evaluate: Callable[[np.ndarray], tuple[float, np.ndarray, np.ndarray]],
    beta: np.ndarray,
    log_likelihood: float,
    information: np.ndarray,
    gradient: np.ndarray,
    names: list[str],
) -> None:
    """Refuse a fit whose likelihood still rises along a direction: no finite maximum exists.

    The size of a coefficient says nothing (age in units of 2000 years has a coefficient of 37
    and a sound fit); the likelihood does. At a finite maximum Newton converges quadratically and
    the next step is negligible beside the coefficient; under a monotone likelihood the
    information fades as fast as the score, so the step stays near one unit while the likelihood
    keeps climbing, by less and less, towards an asymptote it never reaches. R's coxph flags a
    coefficient from the same step (|step| > sqrt(1e-9) |beta|); here the likelihood must also
    confirm it: a long step further does not lower it.
    """
    try:
        step = np.asarray(np.linalg.solve(information, gradient))
    except np.linalg.LinAlgError:
        step = np.full(beta.size, np.inf)
    moving = (np.abs(step) > 1e-9) & (np.abs(step) > math.sqrt(1e-9) * np.abs(beta))
    if not moving.any():
        return
    if np.all(np.isfinite(step)):
        further, _, _ = evaluate(beta + 10 * step)
        if further < log_likelihood - 1e-9:
            return  # the likelihood falls beyond: a finite maximum, reached more slowly
    raise AnalysisInputError(
        "The Cox model diverges (monotone likelihood: an arm or covariate level without "
        "events, or a covariate that separates events perfectly).",
        parameter=names[int(np.argmax(np.where(moving, np.abs(step), -1.0)))],
    )


def _solve(information: np.ndarray, gradient: np.ndarray, names: list[str]) -> np.ndarray:
    try:
        return np.asarray(np.linalg.solve(information, gradient))
    except np.linalg.LinAlgError:
        raise AnalysisInputError(
            "The Cox model's information matrix is singular: a covariate is constant or "
            f"collinear with another ({', '.join(names)}).",
            parameter=names[0],
        ) from None


@dataclass(frozen=True)
class _Stratum:
    """One stratum sorted by decreasing time, with the index arrays the likelihood reuses."""

    design: np.ndarray  # (n, p), decreasing time
    events: np.ndarray  # (n,) bool
    risk_end: np.ndarray  # per event time: last row index of its risk set
    event_rows: np.ndarray  # rows with an event
    event_group: np.ndarray  # per event row: index of its event time
    tied: np.ndarray  # per event time: number of events
    efron_fraction: np.ndarray  # per event row: l / d for the l-th of d tied events


def _prepare_stratum(times: np.ndarray, events: np.ndarray, design: np.ndarray) -> _Stratum:
    order = np.lexsort((events, -times))
    times, events, design = times[order], events[order], design[order]
    # Risk set at t: every row with time >= t, i.e. a prefix in decreasing-time order.
    boundaries = np.nonzero(np.diff(times) != 0)[0]
    last_of_time = np.append(boundaries, times.size - 1)
    time_index = np.searchsorted(-times[last_of_time], -times, side="left")
    event_rows = np.nonzero(events)[0]
    event_time_index = time_index[event_rows]
    event_times_present, event_group, tied = np.unique(
        event_time_index, return_inverse=True, return_counts=True
    )
    position = np.arange(event_rows.size) - np.searchsorted(event_group, event_group, side="left")
    return _Stratum(
        design,
        events,
        last_of_time[event_times_present],
        event_rows,
        event_group,
        tied,
        position / tied[event_group],
    )


def _partial_likelihood(
    stratum: _Stratum, beta: np.ndarray, efron: bool
) -> tuple[float, np.ndarray, np.ndarray]:
    """Return log partial likelihood, score vector and information matrix of one stratum."""
    x = stratum.design
    eta = x @ beta
    shift = eta.max() if eta.size else 0.0
    weight = np.exp(eta - shift)
    wx = weight[:, None] * x
    wxx = wx[:, :, None] * x[:, None, :]
    s0 = np.cumsum(weight)[stratum.risk_end]
    s1 = np.cumsum(wx, axis=0)[stratum.risk_end]
    s2 = np.cumsum(wxx, axis=0)[stratum.risk_end]
    group = stratum.event_group
    rows = stratum.event_rows
    count = stratum.tied.size
    p = x.shape[1]
    if efron:
        d0 = np.bincount(group, weights=weight[rows], minlength=count)
        d1 = np.stack(
            [np.bincount(group, weights=wx[rows, j], minlength=count) for j in range(p)], axis=1
        )
        d2 = np.zeros((count, p, p))
        np.add.at(d2, group, wxx[rows])
        fraction = stratum.efron_fraction
        denominator = s0[group] - fraction * d0[group]
        numerator1 = s1[group] - fraction[:, None] * d1[group]
        numerator2 = s2[group] - fraction[:, None, None] * d2[group]
    else:
        denominator = s0[group]
        numerator1 = s1[group]
        numerator2 = s2[group]
    mean = numerator1 / denominator[:, None]
    log_likelihood = float(eta[rows].sum() - (np.log(denominator) + shift).sum())
    gradient = x[rows].sum(axis=0) - mean.sum(axis=0)
    information = (numerator2 / denominator[:, None, None]).sum(axis=0) - mean.T @ mean
    return log_likelihood, gradient, information


__all__ = [
    "CoxResult",
    "CoxTerm",
    "KaplanMeierResult",
    "LogRankResult",
    "SurvivalCurve",
    "SurvivalQuantile",
    "cox",
    "kaplan_meier",
    "logrank",
]
