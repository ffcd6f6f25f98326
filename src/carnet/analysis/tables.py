"""Analysis populations, the "Table 1" of baseline characteristics and adverse-event tables."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from carnet.analysis._checks import require_columns, require_no_nulls
from carnet.analysis.errors import AnalysisInputError
from carnet.analysis.settings import DEFAULT_SETTINGS, AnalysisSettings, Convention


@dataclass(frozen=True)
class Population:
    """An analysis population: its name, how it was defined and its members with their arm.

    ``members`` has ``subject`` and ``arm``: the arm randomised for ITT and per protocol, the
    treatment actually received for safety.
    """

    name: str
    definition: str
    members: pl.DataFrame

    def __post_init__(self) -> None:
        require_columns(self.members, ["subject", "arm"], what=f"{self.name} population")
        require_no_nulls(self.members, ["subject", "arm"], subject="subject", what=self.name)
        duplicated = self.members.filter(pl.col("subject").is_duplicated())
        if duplicated.height:
            subject = str(duplicated["subject"][0])
            raise AnalysisInputError(
                f"Subject {subject} appears twice in the {self.name} population.", subject=subject
            )
        members = self.members.select(
            pl.col("subject").cast(pl.String), pl.col("arm").cast(pl.String)
        )
        object.__setattr__(self, "members", members)

    @property
    def arms(self) -> list[str]:
        """Return the arms in sort order."""
        return sorted(self.members["arm"].unique().to_list())

    def size(self, arm: str | None = None) -> int:
        """Return the number of members, of one arm if given."""
        if arm is None:
            return self.members.height
        return self.members.filter(pl.col("arm") == arm).height

    def __str__(self) -> str:
        sizes = ", ".join(f"{a} {self.size(a)}" for a in self.arms)
        return f"{self.name} population ({self.definition}): {self.size()} subjects ({sizes})."


def intention_to_treat(randomised: pl.DataFrame) -> Population:
    """Return the ITT population: every randomised subject in the arm allocated.

    Examples
    --------
    >>> itt = intention_to_treat(pl.DataFrame({"subject": ["1", "2"], "arm": ["A", "B"]}))
    >>> print(itt)
    ITT population (all randomised subjects, analysed in the arm allocated): 2 subjects (A 1, B 1).
    """
    return Population("ITT", "all randomised subjects, analysed in the arm allocated", randomised)


def per_protocol(randomised: pl.DataFrame, excluded: Sequence[str]) -> Population:
    """Return the per-protocol population: randomised subjects minus those excluded."""
    known = set(randomised["subject"].cast(pl.String).to_list())
    for subject in excluded:
        if str(subject) not in known:
            raise AnalysisInputError(
                f"Subject {subject} is excluded from per protocol but was not randomised.",
                subject=str(subject),
            )
    members = randomised.filter(
        ~pl.col("subject").cast(pl.String).is_in([str(s) for s in excluded])
    )
    return Population(
        "Per protocol",
        f"randomised subjects without a major protocol deviation ({len(excluded)} excluded)",
        members,
    )


def safety(exposures: pl.DataFrame) -> Population:
    """Return the safety population from exposures: ``subject, arm_received`` of treated subjects.

    Subjects are analysed by the treatment they actually received, whatever their allocation.
    """
    require_columns(exposures, ["subject", "arm_received"], what="exposures")
    return Population(
        "Safety",
        "subjects who received at least one dose, analysed by treatment received",
        exposures.select("subject", pl.col("arm_received").alias("arm")),
    )


@dataclass(frozen=True)
class Table:
    """A summary table as a frame, with the text form that states how it was computed."""

    title: str
    frame: pl.DataFrame
    notes: str
    settings: AnalysisSettings
    conventions: tuple[Convention, ...] = ()

    def __str__(self) -> str:
        # Only the plan's choices this table depends on (none for baseline characteristics).
        used = f"\n{self.settings.describe(*self.conventions)}" if self.conventions else ""
        with pl.Config(tbl_rows=-1, tbl_cols=-1, tbl_hide_dataframe_shape=True, fmt_str_lengths=60):
            return f"{self.title}\n{self.frame}\n{self.notes}{used}"


def _members_data(data: pl.DataFrame, population: Population) -> pl.DataFrame:
    require_columns(data, ["subject"], what="data")
    data = data.with_columns(pl.col("subject").cast(pl.String))
    duplicated = data.filter(pl.col("subject").is_duplicated())
    if duplicated.height:
        subject = str(duplicated["subject"][0])
        raise AnalysisInputError(
            f"Subject {subject} has more than one row of baseline data.", subject=subject
        )
    # Left join: a member without data still counts in N and as missing.
    return population.members.join(data.drop("arm", strict=False), on="subject", how="left")


def _percent(count: int, total: int) -> str:
    return f"{count} ({100 * count / total:.1f}%)" if total else f"{count} (-)"


def table_one(
    data: pl.DataFrame,
    population: Population,
    *,
    continuous: Sequence[str] = (),
    categorical: Sequence[str] = (),
    settings: AnalysisSettings = DEFAULT_SETTINGS,
) -> Table:
    """Return baseline characteristics by arm and overall ("Table 1").

    Continuous variables: n, mean (sd), median (Q1-Q3), min-max and missing; quartiles by linear
    interpolation (R type 7, SAS QNTLDEF=5 differs slightly on small n). Categorical variables:
    n (%) per level and for missing, with every member of the arm as denominator, so the column
    sums to 100%.

    Examples
    --------
    >>> members = pl.DataFrame({"subject": ["1", "2", "3"], "arm": ["A", "A", "B"]})
    >>> itt = intention_to_treat(members)
    >>> data = pl.DataFrame(
    ...     {"subject": ["1", "2", "3"], "age": [50, 60, None], "sex": ["F", None, "M"]}
    ... )
    >>> table = table_one(data, itt, continuous=["age"], categorical=["sex"])
    >>> table.frame.filter(pl.col("variable") == "sex").rows()[0]
    ('sex', 'F', '1 (50.0%)', '0 (0.0%)', '1 (33.3%)')
    """
    merged = _members_data(data, population)
    require_columns(merged, [*continuous, *categorical], what="baseline data")
    arms = population.arms
    groups = [
        (f"{arm} (N={population.size(arm)})", merged.filter(pl.col("arm") == arm)) for arm in arms
    ]
    groups.append((f"Total (N={population.size()})", merged))
    rows: list[list[str]] = []
    for variable in continuous:
        if not merged[variable].dtype.is_numeric():
            raise AnalysisInputError(
                f"Continuous variable {variable!r} is not numeric ({merged[variable].dtype}).",
                parameter=variable,
            )
        statistics: dict[str, list[str]] = {
            "n": [],
            "mean (sd)": [],
            "median (Q1-Q3)": [],
            "min-max": [],
            "missing": [],
        }
        for _, frame in groups:
            values = frame[variable].cast(pl.Float64).drop_nulls().drop_nans()
            n = values.len()
            statistics["n"].append(str(n))
            statistics["missing"].append(str(frame.height - n))
            if n == 0:
                for key in ("mean (sd)", "median (Q1-Q3)", "min-max"):
                    statistics[key].append("-")
                continue
            array = values.to_numpy()
            mean = float(array.mean())
            # One value has no spread: SAS and R print the sd as missing, so do we.
            sd = f"{float(array.std(ddof=1)):.1f}" if n > 1 else "-"
            statistics["mean (sd)"].append(f"{mean:.1f} ({sd})")
            q1, median, q3 = (float(q) for q in np.quantile(array, [0.25, 0.5, 0.75]))
            statistics["median (Q1-Q3)"].append(f"{median:.1f} ({q1:.1f}-{q3:.1f})")
            statistics["min-max"].append(f"{float(array.min()):g}-{float(array.max()):g}")
        rows.extend([variable, key, *cells] for key, cells in statistics.items())
    for variable in categorical:
        levels = sorted(merged[variable].drop_nulls().cast(pl.String).unique().to_list())
        for level in [*levels, None]:
            cells = []
            for _, frame in groups:
                column = frame[variable].cast(pl.String)
                count = column.is_null().sum() if level is None else (column == level).sum()
                cells.append(_percent(int(count), frame.height))
            rows.append([variable, "missing" if level is None else level, *cells])
    columns = ["variable", "statistic", *(name for name, _ in groups)]
    frame = pl.DataFrame(rows, schema=dict.fromkeys(columns, pl.String), orient="row")
    return Table(
        f"Baseline characteristics, {population}",
        frame,
        "Percentages of all members of the arm, missing counted; sd with n - 1; quartiles by "
        "linear interpolation (R type 7).",
        settings,
    )


def adverse_events_table(
    events: pl.DataFrame,
    exposures: pl.DataFrame,
    population: Population,
    *,
    settings: AnalysisSettings = DEFAULT_SETTINGS,
) -> Table:
    """Return patients by worst CTCAE grade per term and arm, treatment-emergent events only.

    ``events`` has ``subject, term, grade`` (CTCAE 1-5), ``onset`` (pl.Date) and optionally
    ``soc`` (MedDRA system organ class; ``term`` is then the preferred term). ``exposures`` has
    ``subject, first_dose, last_dose``. An event is treatment-emergent when its onset lies from
    the first dose to ``treatment_emergent_days`` after the last. Each patient counts once per
    term at their worst grade; percentages are of the population's arm (safety: by treatment
    received). A first row, "Any adverse event", counts patients with at least one.

    Examples
    --------
    >>> import datetime as dt
    >>> members = pl.DataFrame({"subject": ["1", "2"], "arm": ["A", "A"]})
    >>> population = Population("Safety", "treated", members)
    >>> exposures = pl.DataFrame(
    ...     {
    ...         "subject": ["1", "2"],
    ...         "first_dose": [dt.date(2024, 1, 1)] * 2,
    ...         "last_dose": [dt.date(2024, 2, 1)] * 2,
    ...     }
    ... )
    >>> events = pl.DataFrame(
    ...     {
    ...         "subject": ["1", "1", "2"],
    ...         "term": ["Nausea", "Nausea", "Nausea"],
    ...         "grade": [1, 3, 2],
    ...         "onset": [dt.date(2024, 1, 5), dt.date(2024, 1, 20), dt.date(2023, 12, 1)],
    ...     }
    ... )
    >>> table = adverse_events_table(events, exposures, population)
    >>> table.frame.filter(pl.col("term") == "Nausea").select("any_grade", "grade_3_or_more").rows()
    [('1 (50.0%)', '1 (50.0%)')]
    """
    has_soc = "soc" in events.columns
    require_columns(events, ["subject", "term", "grade", "onset"], what="adverse events")
    require_no_nulls(
        events, ["subject", "term", "grade", "onset"], subject="subject", what="Adverse events"
    )
    require_columns(exposures, ["subject", "first_dose", "last_dose"], what="exposures")
    events = events.with_columns(pl.col("subject").cast(pl.String))
    bad_grade = events.filter(~pl.col("grade").cast(pl.Int64, strict=False).is_in([1, 2, 3, 4, 5]))
    if bad_grade.height:
        subject = str(bad_grade["subject"][0])
        raise AnalysisInputError(
            f"Subject {subject}: CTCAE grade {bad_grade['grade'][0]!r} is not 1 to 5.",
            subject=subject,
            parameter="grade",
        )
    exposures = exposures.with_columns(pl.col("subject").cast(pl.String))
    treated = population.members.join(exposures, on="subject", how="left")
    untreated = treated.filter(pl.col("first_dose").is_null() | pl.col("last_dose").is_null())
    if untreated.height:
        subject = str(untreated["subject"][0])
        raise AnalysisInputError(
            f"Subject {subject} is in the {population.name} population but has no first and last "
            "dose dates.",
            subject=subject,
            parameter="first_dose",
        )
    reversed_dates = treated.filter(pl.col("last_dose") < pl.col("first_dose"))
    if reversed_dates.height:
        subject = str(reversed_dates["subject"][0])
        raise AnalysisInputError(
            f"Subject {subject}: last dose before first dose.",
            subject=subject,
            parameter="last_dose",
        )
    window = settings.treatment_emergent_days
    emergent = (
        events.join(treated, on="subject", how="inner")
        .filter(
            (pl.col("onset") >= pl.col("first_dose"))
            & (pl.col("onset") <= pl.col("last_dose") + pl.duration(days=window))
        )
        .with_columns(pl.col("grade").cast(pl.Int64))
    )
    keys = ["soc", "term"] if has_soc else ["term"]
    worst_by_term = emergent.group_by([*keys, "subject", "arm"]).agg(pl.col("grade").max())
    worst_any = emergent.group_by(["subject", "arm"]).agg(pl.col("grade").max())
    arms = population.arms
    rows = []

    def summarise(label: list[str], worst: pl.DataFrame) -> None:
        for arm in arms:
            subset = worst.filter(pl.col("arm") == arm)
            total = population.size(arm)
            grades = [int((subset["grade"] == g).sum()) for g in range(1, 6)]
            rows.append(
                [
                    *label,
                    arm,
                    total,
                    _percent(subset.height, total),
                    _percent(int((subset["grade"] >= 3).sum()), total),
                    *grades,
                ]
            )

    summarise(["Any adverse event"] * len(keys), worst_any)
    for key in worst_by_term.select(keys).unique().sort(keys).iter_rows():
        condition = pl.all_horizontal([pl.col(k) == v for k, v in zip(keys, key, strict=True)])
        summarise([str(k) for k in key], worst_by_term.filter(condition))
    schema: dict[str, pl.DataType] = {k: pl.String() for k in keys}
    schema |= {
        "arm": pl.String(),
        "N": pl.Int64(),
        "any_grade": pl.String(),
        "grade_3_or_more": pl.String(),
    }
    schema |= {f"worst_grade_{g}": pl.Int64() for g in range(1, 6)}
    frame = pl.DataFrame(rows, schema=schema, orient="row")
    excluded = events.height - emergent.height
    return Table(
        f"Treatment-emergent adverse events by worst CTCAE grade, {population}",
        frame,
        f"Patients counted once per {'SOC/PT' if has_soc else 'term'} at their worst grade; "
        f"onset from first dose to last dose + {window} days ({excluded} events outside the "
        "window or the population not counted).",
        settings,
        (Convention.TREATMENT_EMERGENT,),
    )


__all__ = [
    "Population",
    "Table",
    "adverse_events_table",
    "intention_to_treat",
    "per_protocol",
    "safety",
    "table_one",
]
