"""Reads of the laboratory app: the study's ranges and mapping, and the graded listing of its
laboratory values, scoped to the subjects the actor may see and masked by the blinding policy.

The listing reads the mapped items' values of the visible subjects in one query into a Polars
frame; the sampling date, limits entered on the form, the normal range, the baseline, the
converted value, the L/H flag and the CTCAE grade are all joined and computed on the frame.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import polars as pl
from django.utils.translation import gettext as _

from carnet.accounts.blinding import HIDDEN, blinding_of
from carnet.accounts.models import User
from carnet.capture.models import ItemValue
from carnet.core.ctcae import TERMS_BY_CODE
from carnet.core.errors import ValidationError
from carnet.core.lab_units import UnitError, alternate_unit, conversion_factor
from carnet.laboratory.frames import flagged, graded
from carnet.laboratory.models import LabItem, LabSettings, NormalRange
from carnet.studies.models import Study
from carnet.subjects.selectors import PER_PAGE, PER_PAGE_MAX, ListPage, subjects_visible

FLAGS = ("L", "H", "N")


def normal_ranges(study: Study) -> list[NormalRange]:
    """Return the study's normal ranges (the study's own data: no subject, no site scope)."""
    return list(NormalRange.objects.filter(study=study).select_related("site"))


def lab_items(study: Study) -> list[LabItem]:
    """Return how the study's items map to analytes."""
    return list(LabItem.objects.filter(study=study))


def lab_settings(study: Study) -> LabSettings | None:
    return LabSettings.objects.filter(study=study).first()


@dataclass(frozen=True)
class LabFilters:
    """What the listing is narrowed to."""

    site: str = ""
    subject: str = ""
    analyte: str = ""
    grade_min: int | None = None
    flag: str = ""  # L, H, N (within the range) or "" for every value


@dataclass(frozen=True)
class LabRow:
    """One laboratory value as a listing shows it (texts masked for a blinded person)."""

    site: str
    subject: str
    event: str
    occurrence: int
    form: str
    repeat: int
    sampled_on: date | None
    analyte: str
    item: str
    value: str
    unit: str
    converted: str
    converted_unit: str
    low: str
    high: str
    flag: str
    grade: int | None
    term: str


_COLUMNS = {
    "subject_id": pl.Int64,
    "subject": pl.String,
    "site": pl.String,
    "sex": pl.String,
    "instance": pl.Int64,
    "event": pl.String,
    "occurrence": pl.Int64,
    "form": pl.String,
    "repeat": pl.Int64,
    "item": pl.String,
    "row": pl.Int64,
    "text": pl.String,
    "number": pl.Float64,
    "day": pl.Date,
}


def _values(subject_ids: Any, items: set[str]) -> pl.DataFrame:
    """Return one row per stored value of the items, for the subjects given."""
    rows = ItemValue.objects.filter(
        form_instance__subject__in=subject_ids, item__in=sorted(items), removed=False
    ).values_list(
        "form_instance__subject_id",
        "form_instance__subject__identifier",
        "form_instance__subject__site__code",
        "form_instance__subject__sex",
        "form_instance_id",
        "form_instance__event",
        "form_instance__occurrence",
        "form_instance__form",
        "form_instance__repeat",
        "item",
        "row",
        "text",
        "number",
        "day",
    )
    # The database's decimals become floats in Polars, not row by row in Python.
    schema: dict[str, Any] = {**_COLUMNS, "number": pl.Decimal(30, 10)}
    return pl.DataFrame(list(rows), schema=schema, orient="row").with_columns(
        pl.col("number").cast(pl.Float64)
    )


def _on_form(values: pl.DataFrame, item: str, column: str, source: str) -> pl.DataFrame:
    """Return (instance, row, column) for one auxiliary item of the form (date, limit, unit)."""
    return (
        values.filter(pl.col("item") == item)
        .select("instance", "row", pl.col(source).alias(column))
        .unique(subset=["instance", "row"], keep="first")
    )


def _auxiliary(
    values: pl.DataFrame, mapping: pl.DataFrame, settings: LabSettings | None
) -> pl.DataFrame:
    """Return the mapped values with their sampling date, form limits and unit."""
    frame = values.join(mapping, on="item", how="inner")
    # A date item outside repeating groups sits on row 0 of the form: join it on the instance.
    if settings and settings.date_item:
        dates = _on_form(values, settings.date_item, "sampled_on", "day").drop("row")
        frame = frame.join(dates.unique("instance"), on="instance", how="left")
    else:
        frame = frame.with_columns(pl.lit(None, dtype=pl.Date).alias("sampled_on"))
    for column, source in (("form_uln", "number"), ("form_lln", "number"), ("form_unit", "text")):
        item_column = f"{column.removeprefix('form_')}_item"
        limits = values.join(
            mapping.select(pl.col("item").alias("_for"), pl.col(item_column).alias("item")),
            on="item",
            how="inner",
        ).select("instance", "row", "_for", pl.col(source).alias(column))
        frame = frame.join(
            limits.rename({"_for": "item"}).unique(["instance", "row", "item"]),
            on=["instance", "row", "item"],
            how="left",
        )
    return frame.with_columns(
        pl.when(pl.col("fixed_unit") != "")
        .then(pl.col("fixed_unit"))
        .otherwise(pl.col("form_unit"))
        .alias("unit")
    )


def _ages(values: pl.DataFrame, settings: LabSettings | None) -> pl.DataFrame:
    if not settings or not settings.age_item:
        return pl.DataFrame(schema={"subject_id": pl.Int64, "age": pl.Float64})
    return (
        values.filter(pl.col("item") == settings.age_item)
        .group_by("subject_id")
        .agg(pl.col("number").drop_nulls().first().alias("age"))
    )


def _factors(pairs: pl.DataFrame, source: str, target: str) -> pl.DataFrame:
    """Return the conversion factor of each distinct (analyte, source unit, target unit)."""
    rows = []
    for analyte, from_unit, to_unit in pairs.select("analyte", source, target).unique().iter_rows():
        try:
            factor = (
                conversion_factor(analyte, from_unit, to_unit) if from_unit and to_unit else None
            )
        except UnitError:
            factor = None
        rows.append((analyte, from_unit, to_unit, factor))
    return pl.DataFrame(
        rows,
        schema={"analyte": pl.String, source: pl.String, target: pl.String, "_factor": pl.Float64},
        orient="row",
    )


RANGE_SCHEMA: dict[str, Any] = {
    "range_id": pl.Int64,
    "analyte": pl.String,
    "range_site": pl.String,
    "range_sex": pl.String,
    "age_min": pl.Int64,
    "age_max": pl.Int64,
    "effective_from": pl.Date,
    "effective_to": pl.Date,
    "range_unit": pl.String,
    "range_low": pl.Float64,
    "range_high": pl.Float64,
}
# The values `graded_frame` grades: one row per stored value of a mapped (or auxiliary) item.
VALUE_SCHEMA: dict[str, Any] = dict(_COLUMNS)


def _ranges_frame(study: Study) -> pl.DataFrame:
    rows = [
        (
            r.pk,
            r.analyte,
            r.site.code if r.site else "",
            r.sex,
            r.age_min,
            r.age_max,
            r.effective_from,
            r.effective_to,
            r.unit,
            None if r.low is None else float(r.low),
            None if r.high is None else float(r.high),
        )
        for r in normal_ranges(study)
    ]
    return pl.DataFrame(rows, schema=RANGE_SCHEMA, orient="row")


def _with_ranges(frame: pl.DataFrame, ranges: pl.DataFrame) -> pl.DataFrame:
    """Join each value to the one range that applies: same analyte, its site's own range before
    the study-wide one, its sex's before "both", within the age band and the dates."""
    numbered = frame.with_row_index("_value")
    candidates = numbered.select("_value", "analyte", "site", "sex", "age", "sampled_on").join(
        ranges, on="analyte", how="inner"
    )
    applies = (
        ((pl.col("range_site") == "") | (pl.col("range_site") == pl.col("site")))
        & ((pl.col("range_sex") == "") | (pl.col("range_sex") == pl.col("sex")))
        & (pl.col("age_min").is_null() | (pl.col("age") >= pl.col("age_min")))
        & (pl.col("age_max").is_null() | (pl.col("age") < pl.col("age_max")))
        & pl.col("sampled_on").is_not_null()
        & (pl.col("sampled_on") >= pl.col("effective_from"))
        & (pl.col("effective_to").is_null() | (pl.col("sampled_on") <= pl.col("effective_to")))
    )
    chosen = (
        candidates.filter(applies.fill_null(False))
        # The range's id breaks ties (two ranges as specific as each other): without it the
        # choice followed the join's row order, which is no order, and a cut-off's shift table
        # could change from one run to the next.
        .sort(
            "_value",
            pl.col("range_site") == "",
            pl.col("range_sex") == "",
            "range_id",
            descending=[False, False, False, False],
            maintain_order=True,
        )
        .unique("_value", keep="first", maintain_order=True)
        .select("_value", "range_unit", "range_low", "range_high")
    )
    return numbered.join(chosen, on="_value", how="left").drop("_value")


def _baselines(frame: pl.DataFrame, settings: LabSettings | None) -> pl.DataFrame:
    """Return each value with its subject's baseline of the same item (first occurrence of the
    baseline event, in the value's unit)."""
    if not settings or not settings.baseline_event:
        return frame.with_columns(pl.lit(None, dtype=pl.Float64).alias("baseline"))
    baseline = (
        frame.filter((pl.col("event") == settings.baseline_event) & pl.col("number").is_not_null())
        # The form instance breaks ties (the same item on two forms of the baseline visit): the
        # order rows come in from the database is no order (PostgreSQL moves a row it updates).
        .sort("occurrence", "repeat", "row", "instance")
        .unique(["subject_id", "item"], keep="first", maintain_order=True)
        .select(
            "subject_id",
            "item",
            pl.col("number").alias("_base"),
            pl.col("instance").alias("_base_instance"),
            pl.col("row").alias("_base_row"),
            pl.col("unit").alias("_base_unit"),
        )
    )
    frame = frame.join(baseline, on=["subject_id", "item"], how="left")
    factors = _factors(frame.filter(pl.col("_base_unit").is_not_null()), "_base_unit", "unit")
    frame = frame.join(factors, on=["analyte", "_base_unit", "unit"], how="left", nulls_equal=True)
    # The baseline value itself is graded on the ULN alone, not against itself.
    itself = (pl.col("instance") == pl.col("_base_instance")) & (
        pl.col("row") == pl.col("_base_row")
    )
    return frame.with_columns(
        pl.when(itself.fill_null(False))
        .then(None)
        .otherwise(pl.col("_base") * pl.col("_factor"))
        .alias("baseline")
    ).drop("_base", "_base_unit", "_factor", "_base_instance", "_base_row")


def lab_frame(actor: User, *, study: Study, filters: LabFilters | None = None) -> pl.DataFrame:
    """Return every laboratory value the actor may see, with its range (in the value's unit),
    converted value, flag and CTCAE grade, sorted by site, subject, date and analyte."""
    filters = filters or LabFilters()
    subjects = subjects_visible(actor, study=study)
    if filters.site:
        subjects = subjects.filter(site__code=filters.site)
    if filters.subject:
        subjects = subjects.filter(identifier=filters.subject)
    frame = graded_values(study=study, subjects=subjects, analyte=filters.analyte)
    frame = _masked(frame, _concealed_items(actor, study))
    return _filtered(frame, filters).sort(
        "site", "subject", "sampled_on", "event", "occurrence", "analyte", nulls_last=True
    )


def graded_values(*, study: Study, subjects: Any, analyte: str = "") -> pl.DataFrame:
    """Return every laboratory value of the subjects given (a queryset, already scoped by the
    caller), with its range, converted value, flag and CTCAE grade; nothing masked: the caller
    applies the reader's blinding (the reports drop the items a blinded reader may not see)."""
    mapped = lab_items(study)
    settings = lab_settings(study)
    if analyte:
        mapped = [item for item in mapped if item.analyte == analyte]
    values = _values(subjects.order_by().values("pk"), lab_needed(mapped, settings))
    return graded_frame(values, mapped=mapped, settings=settings, ranges=_ranges_frame(study))


def lab_needed(mapped: Sequence[LabItem], settings: LabSettings | None) -> set[str]:
    """Return the items a grading reads: the mapped ones, their unit and limit items, the
    sampling date and the age."""
    needed = {m.item for m in mapped} | {
        name for m in mapped for name in (m.unit_item, m.uln_item, m.lln_item) if name
    }
    if settings:
        needed |= {name for name in (settings.date_item, settings.age_item) if name}
    return needed


def graded_frame(
    values: pl.DataFrame,
    *,
    mapped: Sequence[LabItem],
    settings: LabSettings | None,
    ranges: pl.DataFrame,
) -> pl.DataFrame:
    """Return the values (VALUE_SCHEMA) of the mapped items with their range (RANGE_SCHEMA, the
    one that applies), converted value, flag and CTCAE grade: the grading `graded_values` does
    on today's values, for any values, mapping and ranges (the reports give those of a cut-off,
    as the audit trail has them)."""
    mapping = pl.DataFrame(
        [(m.item, m.analyte, m.unit, m.unit_item, m.uln_item, m.lln_item) for m in mapped],
        schema={
            "item": pl.String,
            "analyte": pl.String,
            "fixed_unit": pl.String,
            "unit_item": pl.String,
            "uln_item": pl.String,
            "lln_item": pl.String,
        },
        orient="row",
    )
    frame = _auxiliary(values, mapping, settings).join(
        _ages(values, settings), on="subject_id", how="left"
    )
    frame = frame.with_columns(pl.col("number").alias("value"))
    frame = _with_ranges(frame, ranges)
    range_factors = _factors(frame.filter(pl.col("range_unit").is_not_null()), "range_unit", "unit")
    frame = frame.join(
        range_factors, on=["analyte", "range_unit", "unit"], how="left", nulls_equal=True
    )
    # The limits entered on the form (the local laboratory's) come before the loaded range.
    frame = frame.with_columns(
        pl.coalesce(pl.col("form_lln"), pl.col("range_low") * pl.col("_factor")).alias("low"),
        pl.coalesce(pl.col("form_uln"), pl.col("range_high") * pl.col("_factor")).alias("high"),
    ).drop("_factor")
    frame = _baselines(frame, settings)
    frame = _converted(frame)
    return graded(flagged(frame.filter(pl.col("value").is_not_null())))


def _concealed_items(actor: User, study: Study) -> set[str]:
    """Return the mapped items whose values the actor may not read (arm-revealing, blinded)."""
    blinding = blinding_of(actor, study=study)
    definition = study.current_version.parsed() if study.current_version else None
    if definition is None:
        return set()
    return {item.name for _f, _g, item in definition.items() if blinding.conceals(item)}


def _masked(frame: pl.DataFrame, concealed: set[str]) -> pl.DataFrame:
    """Empty what would reveal a concealed value (the value, its conversion, flag and grade),
    before any filter: a filter on the grade must not tell a blinded person the value either."""
    if not concealed:
        return frame
    hidden = pl.col("item").is_in(sorted(concealed))
    return frame.with_columns(
        pl.when(hidden).then(None).otherwise(pl.col(name)).alias(name)
        for name in ("value", "number", "converted", "flag", "grade", "term")
    ).with_columns(pl.when(hidden).then(pl.lit(HIDDEN)).otherwise(pl.col("text")).alias("text"))


def _converted(frame: pl.DataFrame) -> pl.DataFrame:
    """Add the value in its analyte's other common unit (µmol/L beside mg/dL…)."""
    pairs = frame.select("analyte", "unit").unique()
    rows = []
    for analyte, unit in pairs.iter_rows():
        other = alternate_unit(analyte, unit or "")
        factor = conversion_factor(analyte, unit, other) if other else None
        rows.append((analyte, unit, other, factor))
    table = pl.DataFrame(
        rows,
        schema={
            "analyte": pl.String,
            "unit": pl.String,
            "converted_unit": pl.String,
            "_factor": pl.Float64,
        },
        orient="row",
    )
    frame = frame.join(table, on=["analyte", "unit"], how="left", nulls_equal=True)
    return frame.with_columns((pl.col("value") * pl.col("_factor")).alias("converted")).drop(
        "_factor"
    )


def _filtered(frame: pl.DataFrame, filters: LabFilters) -> pl.DataFrame:
    if filters.grade_min is not None:
        frame = frame.filter(pl.col("grade") >= filters.grade_min)
    if filters.flag in ("L", "H"):
        frame = frame.filter(pl.col("flag") == filters.flag)
    elif filters.flag == "N":
        frame = frame.filter(pl.col("flag") == "")
    return frame


def _number(value: float | None) -> str:
    if value is None:
        return ""
    # Four significant digits, never in scientific notation (platelets read 43000 /mm³).
    return f"{value:.0f}" if abs(value) >= 1000 else f"{value:.4g}"


def lab_rows(actor: User, *, study: Study, frame: pl.DataFrame) -> list[LabRow]:
    """Return the frame's rows as the actor may read them: a value of an arm-revealing item is
    masked for a blinded person (its flag and grade too, which would reveal it)."""
    concealed = _concealed_items(actor, study)
    rows = []
    for record in frame.iter_rows(named=True):
        hidden = record["item"] in concealed
        term = TERMS_BY_CODE.get(record["term"] or "")
        rows.append(
            LabRow(
                site=record["site"],
                subject=record["subject"],
                event=record["event"],
                occurrence=record["occurrence"],
                form=record["form"],
                repeat=record["repeat"],
                sampled_on=record["sampled_on"],
                analyte=record["analyte"],
                item=record["item"],
                value=HIDDEN if hidden else record["text"],
                unit=record["unit"] or "",
                converted=HIDDEN if hidden else _number(record["converted"]),
                converted_unit=record["converted_unit"] or "",
                low=_number(record["low"]),
                high=_number(record["high"]),
                flag=HIDDEN if hidden else (record["flag"] or ""),
                grade=None if hidden else record["grade"],
                term="" if hidden or term is None else term.name,
            )
        )
    return rows


def lab_listing(
    actor: User,
    *,
    study: Study,
    filters: LabFilters | None = None,
    page: int = 1,
    per_page: int | None = PER_PAGE,
) -> ListPage[LabRow]:
    """Return one page of the study's laboratory listing as the actor may see it."""
    frame = lab_frame(actor, study=study, filters=filters)
    total = frame.height
    if not per_page:
        return ListPage(
            rows=lab_rows(actor, study=study, frame=frame), total=total, number=1, per_page=None
        )
    per_page = min(max(per_page, 1), PER_PAGE_MAX)
    last = max(1, -(-total // per_page))
    number = min(max(page, 1), last)
    window = frame.slice((number - 1) * per_page, per_page)
    return ListPage(
        rows=lab_rows(actor, study=study, frame=window),
        total=total,
        number=number,
        per_page=per_page,
    )


def lab_filters(
    *, site: str = "", subject: str = "", analyte: str = "", grade: str = "", flag: str = ""
) -> LabFilters:
    """Return the filters asked for in a page's or the API's query; refuse what makes no sense."""
    grade_min = None
    if grade.strip():
        if grade.strip() not in {"0", "1", "2", "3", "4"}:
            raise ValidationError(_("grade: give a CTCAE grade from 0 to 4."))
        grade_min = int(grade)
    if flag and flag not in FLAGS:
        raise ValidationError(_("flag: give L, H or N."))
    return LabFilters(site=site, subject=subject, analyte=analyte, grade_min=grade_min, flag=flag)


CSV_HEADER = (
    "site",
    "subject",
    "event",
    "occurrence",
    "form",
    "sampled_on",
    "analyte",
    "item",
    "value",
    "unit",
    "converted",
    "converted_unit",
    "low",
    "high",
    "flag",
    "ctcae_grade",
    "ctcae_term",
)


def csv_line(row: LabRow) -> list[str]:
    """Return a listing row as the cells of the CSV export."""
    return [
        row.site,
        row.subject,
        row.event,
        str(row.occurrence),
        row.form,
        row.sampled_on.isoformat() if row.sampled_on else "",
        row.analyte,
        row.item,
        row.value,
        row.unit,
        row.converted,
        row.converted_unit,
        row.low,
        row.high,
        row.flag,
        "" if row.grade is None else str(row.grade),
        row.term,
    ]
