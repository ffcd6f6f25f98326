"""Whole-study re-checks: every soft edit check of a study over every form, in columns.

The save pipeline evaluates a form's checks on one subject with the row evaluator; a re-check
reads the whole study's values from the database into Polars frames (one read, typed per item
in Polars), compiles each check with the column evaluator, and writes the difference with the
open check results in bulk: new firings open, results that no longer fire close. It gives
what saving every form again would give (a hypothesis test holds the two to the same answers),
without touching a value: running it twice opens nothing the second time.

Steps, each named below: read (``_study_frames``) -> evaluate (``_fired``) -> compare
(``_differences``) -> write (``_results_write``) -> follow with automatic queries
(``_queries_follow``) -> audit (one event with the counts per rule).
"""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

from django.db import connection, transaction
from django.db.models import Max, Min
from django.utils.translation import gettext as _

from carnet.audit.services import AuditEntry, audit_record_many
from carnet.capture.models import CheckResult, FormInstance, FormStatus, ItemValue
from carnet.capture.rules import FormRules, StudyRules, study_rules
from carnet.capture.seams import OWN_CHECK_PREFIX
from carnet.capture.services import _check_group
from carnet.core.clock import utc_now
from carnet.db.bulk import rows_insert
from carnet.expressions import Symbol, ValueType
from carnet.quality.automatic import acknowledged_check_keys, automatic_queries_sync
from carnet.quality.recheck_models import RecheckRun, RecheckStatus
from carnet.studies.models import Study
from carnet.subjects.models import Subject

if TYPE_CHECKING:
    import polars as pl

# (form_instance_id, check_name, row): one check result, as automatic queries key them.
CheckKey = tuple[int, str, int]
Progress = Callable[[int, int], None]
# Rows written per statement: well under SQLite's 32,766 parameters per statement.
WRITE_CHUNK = 2_000


@dataclass
class RuleCount:
    """What a re-check found for one rule: firing now, opened, closed."""

    form: str
    check: str
    firing: int = 0
    opened: int = 0
    closed: int = 0


@dataclass
class RecheckOutcome:
    """The result of a whole-study re-check: counts per rule and in all."""

    forms_checked: int = 0
    values_read: int = 0
    rules: dict[str, RuleCount] = field(default_factory=dict)
    opened: int = 0
    closed: int = 0
    # Firings left closed because the site confirmed the value correct.
    acknowledged: int = 0
    queries_opened: int = 0
    queries_closed: int = 0

    def as_json(self) -> dict[str, Any]:
        """Return the outcome as the audit trail and the run's record keep it."""
        return {
            "forms_checked": self.forms_checked,
            "values_read": self.values_read,
            "opened": self.opened,
            "closed": self.closed,
            "acknowledged": self.acknowledged,
            "queries_opened": self.queries_opened,
            "queries_closed": self.queries_closed,
            "rules": [
                {
                    "form": count.form,
                    "check": count.check,
                    "firing": count.firing,
                    "opened": count.opened,
                    "closed": count.closed,
                }
                for count in self.rules.values()
            ],
        }


# ---------------------------------------------------------------------------------------------
# Read: the study's form instances and values, as frames.


def _select(
    query: str,
    params: Sequence[Any],
    schema: dict[str, Any],
    *,
    chunks: Sequence[tuple[str, int, int, int]] = (),
) -> pl.DataFrame:
    """Return the rows of ``query`` (its columns named as ``schema``'s keys) as a frame.

    Read without a Python object per value, the fastest way each database has: PostgreSQL
    sends CSV through COPY; SQLite writes CSV lines itself (``group_concat``), one text per
    slice of ``chunks`` (column, first, last, step: ranges of an indexed column), and Polars
    parses both in native code."""
    import polars as pl

    connection.ensure_connection()
    if connection.vendor == "postgresql":
        raw = connection.connection.cursor()
        buffer = io.BytesIO()
        with raw.copy(f"COPY ({query}) TO STDOUT WITH (FORMAT csv)", params) as copy:
            for block in copy:
                buffer.write(block)
        return _csv_frame([buffer.getvalue()], schema)
    texts = []
    quoted = [
        f"""coalesce('"' || replace(q."{name}", '"', '""') || '"', '')"""
        if dtype == pl.String
        else f"coalesce(q.\"{name}\", '')"
        for name, dtype in schema.items()
    ]
    line = " || ',' || ".join(quoted)
    wrapped = f"SELECT group_concat({line}, char(10)) FROM ({{query}}) AS q"  # noqa: S608
    slices: list[tuple[str, list[Any]]] = [(query, list(params))]
    if chunks:
        (column, first, last, step), slices = chunks[0], []
        for start in range(first, last + 1, step):
            slices.append(
                (f"{query} AND {column} >= %s AND {column} < %s", [*params, start, start + step])
            )
    with connection.cursor() as cursor:
        for sliced, sliced_params in slices:
            cursor.execute(wrapped.format(query=sliced), sliced_params)
            (text,) = cursor.fetchone()
            if text:
                texts.append(text.encode())
    return _csv_frame(texts, schema)


def _csv_frame(texts: list[bytes], schema: dict[str, Any]) -> pl.DataFrame:
    """Return the CSV texts (no header) read as one frame of ``schema``.

    An empty text ("") and NULL both read as null: what an empty value means to the rules."""
    import polars as pl

    frames = [
        pl.read_csv(io.BytesIO(text), has_header=False, new_columns=list(schema), schema=schema)
        for text in texts
        if text
    ]
    if not frames:
        return pl.DataFrame(schema=schema)
    return pl.concat(frames, rechunk=False) if len(frames) > 1 else frames[0]


def _tables() -> dict[str, str]:
    return {
        "value": ItemValue._meta.db_table,
        "instance": FormInstance._meta.db_table,
        "subject": Subject._meta.db_table,
        "result": CheckResult._meta.db_table,
    }


def instances_frame(study: Study) -> pl.DataFrame:
    """Return every form instance of the study: id, subject, environment, place, status, site."""
    import polars as pl

    t = _tables()
    query = (
        'SELECT f.id AS "fi", f.subject_id AS "subject", s.site_id AS "site", '  # noqa: S608
        'f.environment AS "environment", f.event AS "event", f.occurrence AS "occurrence", '
        'f.form AS "form", f.repeat AS "repeat", f.status AS "status" '
        f"FROM {t['instance']} f JOIN {t['subject']} s ON s.id = f.subject_id "
        f"WHERE s.study_id = %s"
    )
    schema = {
        "fi": pl.Int64,
        "subject": pl.Int64,
        "site": pl.Int64,
        "environment": pl.String,
        "event": pl.String,
        "occurrence": pl.Int64,
        "form": pl.String,
        "repeat": pl.Int64,
        "status": pl.String,
    }
    return _select(query, [study.pk], schema)


def values_frame(study: Study, items: Iterable[str] | None = None) -> pl.DataFrame:
    """Return the study's current values (removed rows left out): instance, item, row, text.

    This read is the floor of a re-check: its benchmark compares the whole run with it."""
    import polars as pl

    t = _tables()
    wanted = sorted(set(items)) if items is not None else None
    query = (
        'SELECT v.form_instance_id AS "fi", v.item AS "item", v.row AS "row", '  # noqa: S608
        f'v.text AS "text" FROM {t["value"]} v '
        f"JOIN {t['instance']} f ON f.id = v.form_instance_id "
        f"JOIN {t['subject']} s ON s.id = f.subject_id "
        f"WHERE s.study_id = %s AND v.removed = %s"
    )
    params: list[Any] = [study.pk, False]
    if wanted is not None:
        if not wanted:
            return pl.DataFrame(
                schema={"fi": pl.Int64, "item": pl.String, "row": pl.Int64, "text": pl.String}
            )
        query += f" AND v.item IN ({', '.join(['%s'] * len(wanted))})"
        params += wanted
    schema = {"fi": pl.Int64, "item": pl.String, "row": pl.Int64, "text": pl.String}
    return _select(query, params, schema, chunks=_instance_slices(study))


# Form instances per slice of a SQLite read: about 20 MB of CSV text at a time.
SLICE_INSTANCES = 40_000


def _instance_slices(study: Study) -> list[tuple[str, int, int, int]]:
    """Return the ranges of form instance ids a SQLite read goes through, slice by slice."""
    if connection.vendor == "postgresql":
        return []
    bounds = FormInstance.objects.filter(subject__study=study).aggregate(
        first=Min("pk"), last=Max("pk")
    )
    if bounds["first"] is None:
        return []
    return [("v.form_instance_id", bounds["first"], bounds["last"], SLICE_INSTANCES)]


def open_results_frame(study: Study) -> pl.DataFrame:
    """Return the study's open check results (Carnet's own checks left out)."""
    import polars as pl

    t = _tables()
    query = (
        'SELECT r.id AS "id", r.form_instance_id AS "fi", r.check_name AS "check_name", '  # noqa: S608
        f'r.row AS "row" FROM {t["result"]} r '
        f"JOIN {t['instance']} f ON f.id = r.form_instance_id "
        f"JOIN {t['subject']} s ON s.id = f.subject_id "
        f"WHERE s.study_id = %s AND r.open = %s AND r.check_name NOT LIKE %s"
    )
    schema = {"id": pl.Int64, "fi": pl.Int64, "check_name": pl.String, "row": pl.Int64}
    return _select(query, [study.pk, True, OWN_CHECK_PREFIX + "%"], schema)


# ---------------------------------------------------------------------------------------------
# Typed columns: the stored canonical text read as the language's types (as value_of_text).


def _typed(text: pl.Expr, value_type: ValueType, codes_are_integers: bool) -> pl.Expr:
    import polars as pl

    present = pl.when(text.is_not_null() & (text != ""))
    if value_type == ValueType.INTEGER:
        return present.then(text.cast(pl.Float64, strict=False).cast(pl.Int64, strict=False))
    if value_type == ValueType.DECIMAL:
        return present.then(text.cast(pl.Float64, strict=False))
    if value_type == ValueType.DATE:
        return present.then(text.str.to_date("%Y-%m-%d", strict=False))
    if value_type == ValueType.DATETIME:
        return present.then(text.str.to_datetime(strict=False, time_unit="us"))
    if value_type == ValueType.TIME:
        return present.then(
            pl.coalesce(
                text.str.to_time("%H:%M:%S", strict=False),
                text.str.to_time("%H:%M", strict=False),
            )
        )
    if value_type == ValueType.BOOLEAN:
        return present.then(text == "true")
    if value_type == ValueType.CODES:
        parts = text.str.split(",").list.eval(pl.element().filter(pl.element() != ""))
        if codes_are_integers:
            parts = parts.list.eval(pl.element().cast(pl.Int64, strict=False))
        return present.then(parts)
    return present.then(text)


@dataclass(frozen=True)
class _ItemShape:
    value_type: ValueType
    integer_codes: bool
    repeating: bool


def _item_shapes(rules: StudyRules) -> dict[str, _ItemShape]:
    """Return how each item of the study reads in the language (as the symbol table has it)."""
    definition = rules.definition
    shapes = {}
    for form_rules in rules.forms.values():
        for name, item in form_rules.items.items():
            code_list = definition.code_list(item.code_list) if item.code_list else None
            try:
                symbol = Symbol.for_item(
                    name,
                    item.type,
                    codes=[entry.code for entry in code_list.items] if code_list else None,
                    repeating=form_rules.group_of[name] in form_rules.repeating_groups,
                    result_type=item.result_type,
                )
            except ValueError:
                continue  # refused when the study was loaded: no rule reads it
            shapes[name] = _ItemShape(
                symbol.type,
                code_list is not None and code_list.type == "integer",
                symbol.repeating,
            )
    return shapes


@dataclass
class _Columns:
    """Per item, a frame (fi, v): typed, and a List by row for a repeating item; per item of a
    repeating group, also its values row by row (fi, row, v)."""

    lists: dict[str, pl.DataFrame]
    rows: dict[str, pl.DataFrame]

    def get(self, item: str) -> pl.DataFrame | None:
        return self.lists.get(item)


def _item_columns(values: pl.DataFrame, shapes: dict[str, _ItemShape]) -> _Columns:
    """Return the typed values of each item (see `_Columns`)."""
    import polars as pl

    columns: dict[str, pl.DataFrame] = {}
    by_row: dict[str, pl.DataFrame] = {}
    for (item,), part in values.partition_by("item", as_dict=True, maintain_order=False).items():
        shape = shapes.get(str(item))
        if shape is None:
            continue  # a value of an item the current version no longer has: no rule reads it
        typed = part.lazy().select(
            "fi", "row", _typed(pl.col("text"), shape.value_type, shape.integer_codes).alias("v")
        )
        if shape.repeating:
            long = typed.collect()
            by_row[str(item)] = long
            typed = long.lazy().group_by("fi").agg(pl.col("v").sort_by("row"))
        else:
            # Outside repeating groups the row is 0; a stray row would be a second value.
            typed = typed.filter(pl.col("row") == 0).select("fi", "v")
        columns[str(item)] = typed.collect()
    return _Columns(columns, by_row)


# ---------------------------------------------------------------------------------------------
# Evaluate: per form, one frame with a column per reference, every check at once.


def _reference_column(
    base: pl.LazyFrame,
    firsts: pl.LazyFrame,
    column: pl.DataFrame | None,
    *,
    key: str,
    event: str | None,
    form: str,
    own_form: str,
    value_type: pl.DataType,
) -> pl.LazyFrame:
    """Add the column ``key`` to ``base``: the value each instance's rule reads for it.

    As the save pipeline reads it: this instance's value when the reference is to its own form
    at its own event; otherwise the subject's first repeat of ``form`` at the event named (or
    the current one), at the current occurrence for the current event, else the first."""
    import polars as pl

    if column is None:
        return base.with_columns(pl.lit(None, dtype=value_type).alias(key))
    values = column.lazy().rename({"v": key})
    if form == own_form and event is None:
        return base.join(values, on="fi", how="left")
    target_event = pl.col("event") if event is None else pl.lit(event)
    located = base.with_columns(
        target_event.alias("__event"),
        pl.when(target_event == pl.col("event"))
        .then(pl.col("occurrence"))
        .otherwise(pl.lit(1, dtype=pl.Int64))
        .alias("__occurrence"),
    )
    located = located.join(
        firsts.filter(pl.col("form") == form).select(
            "subject",
            "environment",
            pl.col("event").alias("__event"),
            pl.col("occurrence").alias("__occurrence"),
            pl.col("fi").alias("__other"),
        ),
        on=["subject", "environment", "__event", "__occurrence"],
        how="left",
    )
    if form == own_form:
        # A reference to the own form at a named event: the own instance at that event.
        located = located.with_columns(
            pl.when(pl.col("event") == pl.lit(event))
            .then(pl.col("fi"))
            .otherwise(pl.col("__other"))
            .alias("__other")
        )
    located = located.join(values.rename({"fi": "__other"}), on="__other", how="left")
    return located.drop("__event", "__occurrence", "__other")


def _form_fired(
    form_rules: FormRules,
    rules: StudyRules,
    base: pl.LazyFrame,
    firsts: pl.LazyFrame,
    columns: _Columns,
    shapes: dict[str, _ItemShape],
    today: date,
) -> pl.DataFrame:
    """Return the (fi, check_name, row) where a soft check of the form fires: row 0 for the
    form, the rows that fail it for a check over a repeating group (see `_placed_on_rows`)."""
    import polars as pl

    from carnet.expressions import to_polars
    from carnet.expressions.polars_compiler import DTYPES

    soft = [(c, rule) for c, rule in form_rules.checks if c.severity != "hard"]
    frame = base
    seen: set[str] = set()
    for _check, rule in soft:
        for reference in rule.reads:
            if reference.key in seen:
                continue
            seen.add(reference.key)
            shape = shapes[reference.name]
            dtype = DTYPES.get(shape.value_type, pl.String())
            frame = _reference_column(
                frame,
                firsts,
                columns.get(reference.name),
                key=reference.key,
                event=reference.event,
                form=rules.form_of_item.get(reference.name, ""),
                own_form=form_rules.form.name,
                value_type=pl.List(dtype) if shape.repeating else dtype,
            )
    fired = [
        # A check fires when its condition is false; missing (unknown) never fires.
        to_polars(rule.expression, clock=lambda: today).eq(False).fill_null(False).alias(c.name)
        for c, rule in soft
    ]
    if not fired:
        return pl.DataFrame(schema={"fi": pl.Int64, "check_name": pl.String, "row": pl.Int64})
    frame = frame.collect().lazy()
    wide = frame.select("fi", *fired)
    found = (
        wide.unpivot(index="fi", variable_name="check_name", value_name="fires")
        .filter(pl.col("fires"))
        .select("fi", "check_name", pl.lit(0, dtype=pl.Int64).alias("row"))
        .collect()
    )
    for check, rule in soft:
        group = _check_group(form_rules, check, rule)
        if group is None:
            continue
        of_check = found.filter(pl.col("check_name") == check.name)
        if of_check.height == 0:
            continue
        rows = _placed_on_rows(
            form_rules,
            group,
            check.name,
            rule,
            frame,
            of_check.select("fi"),
            columns,
            shapes,
            today,
        )
        found = pl.concat(
            [found.filter(pl.col("check_name") != check.name), rows.select(found.columns)]
        )
    return found


def _placed_on_rows(
    form_rules: FormRules,
    group: str,
    check_name: str,
    rule: Any,
    frame: pl.LazyFrame,
    fired: pl.DataFrame,
    columns: _Columns,
    shapes: dict[str, _ItemShape],
    today: date,
) -> pl.DataFrame:
    """Return the rows a check over a repeating group questions on the instances where it
    fires, as the save places it: the rows of the group where, read alone, it fires too; row 0
    (the form) where no single row does."""
    import polars as pl

    from carnet.expressions import to_polars
    from carnet.expressions.polars_compiler import DTYPES

    items = [name for name, of in form_rules.group_of.items() if of == group]
    present = [
        columns.rows[name].lazy().select("fi", "row") for name in items if name in columns.rows
    ]
    if present:
        rows = (
            pl.concat(present)
            .filter(pl.col("row") > 0)
            .unique()
            .join(fired.lazy(), on="fi", how="semi")
        )
        # The references to the group's items in this form read one row: a List of its value.
        cut = {
            reference.key: reference.name
            for reference in rule.reads
            if reference.event is None and reference.name in items
        }
        per_row = rows.join(frame.drop(list(cut), strict=False), on="fi", how="left")
        for key, item in cut.items():
            dtype = DTYPES.get(shapes[item].value_type, pl.String())
            long = columns.rows.get(item)
            if long is None:
                per_row = per_row.with_columns(pl.lit(None, dtype=pl.List(dtype)).alias(key))
                continue
            cell = long.lazy().select(
                "fi", "row", pl.col("v").alias("__v"), pl.lit(True).alias("__cell")
            )
            per_row = (
                per_row.join(cell, on=["fi", "row"], how="left")
                .with_columns(
                    pl.when(pl.col("__cell")).then(pl.concat_list(pl.col("__v"))).alias(key)
                )
                .drop("__v", "__cell")
            )
        failing = (
            per_row.filter(
                to_polars(rule.expression, clock=lambda: today).eq(False).fill_null(False)
            )
            .select("fi", "row")
            .collect()
        )
    else:
        failing = pl.DataFrame(schema={"fi": pl.Int64, "row": pl.Int64})
    whole = fired.join(failing, on="fi", how="anti").with_columns(
        pl.lit(0, dtype=pl.Int64).alias("row")
    )
    placed = pl.concat([failing.select("fi", "row"), whole.select("fi", "row")])
    return placed.select("fi", pl.lit(check_name, dtype=pl.String).alias("check_name"), "row")


def _checked_forms(rules: StudyRules) -> list[FormRules]:
    return [f for f in rules.forms.values() if f.checks]


def recheck_steps(study: Study) -> int:
    """Return the steps a re-check of ``study`` reports progress in: three reads, one per
    checked form, the write."""
    version = study.current_version
    return 4 + len(_checked_forms(study_rules(version))) if version is not None else 0


def _rule_reads(rules: StudyRules) -> set[str]:
    """Return the items a re-check reads: those the soft checks read, and every item of a
    repeating group a check is about (its rows are the rows the check may be placed on)."""
    reads = set()
    for form_rules in rules.forms.values():
        for check, rule in form_rules.checks:
            if check.severity == "hard":
                continue
            reads |= {reference.name for reference in rule.reads}
            group = _check_group(form_rules, check, rule)
            if group is not None:
                reads |= {name for name, of in form_rules.group_of.items() if of == group}
    return reads


# ---------------------------------------------------------------------------------------------
# Compare and write.


@dataclass
class _Differences:
    opened: pl.DataFrame  # fi, check_name, row
    closed: pl.DataFrame  # id, fi, check_name
    acknowledged: int


def _differences(
    fired: pl.DataFrame,
    existing: pl.DataFrame,
    evaluated: pl.DataFrame,
    acknowledged: set[CheckKey],
) -> _Differences:
    """Return the firings without an open result (less the acknowledged ones), and the open
    results of evaluated instances that no longer fire."""
    import polars as pl

    # The firings carry the rows the save would place them on (row 0: the form), so a result
    # is one (instance, check, row) in both.
    key = ["fi", "check_name", "row"]
    new = fired.join(existing.select(key).unique(), on=key, how="anti")
    skipped = 0
    if acknowledged:
        known = pl.DataFrame(
            list(acknowledged),
            schema={"fi": pl.Int64, "check_name": pl.String, "row": pl.Int64},
            orient="row",
        )
        kept = new.join(known, on=key, how="anti")
        skipped = new.height - kept.height
        new = kept
    closed = (
        existing.join(evaluated.select("fi"), on="fi", how="semi")
        .join(fired, on=key, how="anti")
        .select("id", "fi", "check_name")
    )
    return _Differences(opened=new, closed=closed, acknowledged=skipped)


def _results_write(
    study: Study, differences: _Differences, rules: StudyRules, forms_of: dict[int, str]
) -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
    """Open the new results and close the others; return the ids opened and closed.

    Runs in the caller's transaction. A save that ran since the read may have opened or closed
    some of them already: the open results are read again here (one read), only results still
    open are closed, and a firing that now has an open result is not opened twice. Each id
    comes with its check's name."""

    # What each check's result says, once per check rather than once per result.
    fields = {}
    for form_name, form_rules in rules.forms.items():
        for check, rule in form_rules.checks:
            fields[(form_name, check.name)] = {
                "message_en": check.message.text("en"),
                "message_fr": check.message.text("fr"),
                "items": list(check.items)
                or [r.name for r in rule.reads if r.name in form_rules.items],
            }
    still_open = open_results_frame(study)
    key = ["fi", "check_name", "row"]
    new = differences.opened.join(still_open.select(key).unique(), on=key, how="anti")
    opened: list[tuple[int, str]] = []
    for start in range(0, new.height, WRITE_CHUNK):
        rows = [
            CheckResult(
                form_instance_id=fi,
                check_name=name,
                row=row,
                **fields[(forms_of[fi], name)],
            )
            for fi, name, row in new.slice(start, WRITE_CHUNK).select(key).iter_rows()
        ]
        rows_insert(rows)
        opened += [(row.pk, row.check_name) for row in rows]
    closing = differences.closed.join(still_open.select("id"), on="id", how="semi")
    closed: list[tuple[int, str]] = list(closing.select("id", "check_name").iter_rows())
    now = utc_now()
    for start in range(0, len(closed), WRITE_CHUNK):
        ids = [pk for pk, _name in closed[start : start + WRITE_CHUNK]]
        CheckResult.objects.filter(pk__in=ids, open=True).update(open=False, closed_at=now)
    return opened, closed


def _queries_follow(
    *,
    study: Study,
    opened_check_result_ids: list[int],
    closed_check_result_ids: list[int],
    actor: Any,
    reason: str,
    acknowledged: set[CheckKey] | None = None,
) -> tuple[int, int]:
    """Open and close the automatic queries of the check results a re-check opened and closed,
    through the same bulk path as a save's listener (with the acknowledgements the re-check
    read, not read a second time)."""
    return automatic_queries_sync(
        study=study,
        opened_check_result_ids=opened_check_result_ids,
        closed_check_result_ids=closed_check_result_ids,
        actor=actor,
        reason=reason,
        acknowledged=acknowledged,
    )


def _acknowledged_default(study: Study) -> set[CheckKey]:
    """Return the firings the site confirmed correct (values unchanged since), which a re-check
    leaves closed."""
    return acknowledged_check_keys(study=study)


# ---------------------------------------------------------------------------------------------
# The service.


def _site_todays(instances: pl.DataFrame) -> dict[int, date]:
    from carnet.accounts.models import StudySite
    from carnet.subjects.services import site_today

    sites = StudySite.objects.filter(pk__in=instances["site"].unique().to_list()).select_related(
        "centre"
    )
    return {site.pk: site_today(site) for site in sites}


def _evaluate_study(
    rules: StudyRules,
    instances: pl.DataFrame,
    values: pl.DataFrame,
    step: Callable[[], None],
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Return the firings of every soft check (fi, check_name, row) and the instances
    evaluated."""
    import polars as pl

    shapes = _item_shapes(rules)
    columns = _item_columns(values, shapes)
    # A not-done form takes no data: the save pipeline evaluates no check on it.
    evaluated = instances.filter(pl.col("status") != FormStatus.NOT_DONE.value)
    firsts = (
        (
            instances.lazy()
            .sort("repeat")
            .group_by(["subject", "environment", "event", "occurrence", "form"])
            .agg(pl.col("fi").first())
        )
        .collect()
        .lazy()
    )
    # today() is the date at each subject's site: one pass per distinct date (usually one).
    by_day: dict[date, list[int]] = {}
    for site, day in (_site_todays(evaluated) if evaluated.height else {}).items():
        by_day.setdefault(day, []).append(site)
    found = []
    for form_rules in _checked_forms(rules):
        of_form = evaluated.filter(pl.col("form") == form_rules.form.name)
        for day, sites in by_day.items():
            base = of_form.filter(pl.col("site").is_in(sites)).lazy()
            found.append(_form_fired(form_rules, rules, base, firsts, columns, shapes, day))
        step()
    fired = (
        pl.concat(found)
        if found
        else pl.DataFrame(schema={"fi": pl.Int64, "check_name": pl.String, "row": pl.Int64})
    )
    return fired, evaluated


def checks_recheck(
    *,
    actor: Any,
    study: Study,
    reason: str = "",
    acknowledged: set[CheckKey] | None = None,
    progress: Progress | None = None,
) -> RecheckOutcome:
    """Re-evaluate every soft edit check of ``study`` over every form; open and close results.

    Reads and evaluates outside any transaction (``progress(done, total)`` is called after each
    read, each form and the write, so a page can follow); writes the differences, the
    automatic queries that follow them and one audit event with the counts per rule in one
    transaction. Idempotent: a second run opens and closes nothing. Firings in
    ``acknowledged`` (confirmed correct by the site) are not opened again."""
    version = study.current_version
    if version is None:
        return RecheckOutcome()
    rules = study_rules(version)
    total, done = recheck_steps(study), 0

    def step() -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, total)

    if acknowledged is None:
        acknowledged = _acknowledged_default(study)
    instances = instances_frame(study)
    step()
    values = values_frame(study, _rule_reads(rules))
    step()
    fired, evaluated = _evaluate_study(rules, instances, values, step)
    existing = open_results_frame(study)
    step()
    differences = _differences(fired, existing, evaluated, acknowledged)
    forms_of = dict(zip(instances["fi"].to_list(), instances["form"].to_list(), strict=True))
    outcome = RecheckOutcome(
        forms_checked=evaluated.height,
        values_read=values.height,
        acknowledged=differences.acknowledged,
    )
    for form_name, form_rules in rules.forms.items():
        for check, _rule in form_rules.checks:
            if check.severity != "hard":
                outcome.rules[check.name] = RuleCount(form=form_name, check=check.name)
    for name, firing in Counter(fired["check_name"].to_list()).items():
        outcome.rules[name].firing = firing
    with transaction.atomic():
        opened, closed = _results_write(study, differences, rules, forms_of)
        outcome.opened, outcome.closed = len(opened), len(closed)
        _count_per_rule(outcome, opened, closed)
        outcome.queries_opened, outcome.queries_closed = _queries_follow(
            study=study,
            opened_check_result_ids=[pk for pk, _name in opened],
            closed_check_result_ids=[pk for pk, _name in closed],
            actor=actor,
            reason=reason,
            acknowledged=acknowledged,
        )
        audit_record_many(
            actor=actor,
            entries=[
                AuditEntry(
                    action="checks.rechecked",
                    target=study,
                    new=outcome.as_json(),
                    reason=reason.strip(),
                )
            ],
            chain=study.audit_chain,
        )
    step()
    return outcome


def _count_per_rule(
    outcome: RecheckOutcome, opened: list[tuple[int, str]], closed: list[tuple[int, str]]
) -> None:
    """Add the results opened and closed to their rule's counts."""
    for written, attribute in ((opened, "opened"), (closed, "closed")):
        for name, number in Counter(name for _pk, name in written).items():
            count = outcome.rules.get(name)
            if count is None:  # a check the current version no longer has
                count = outcome.rules[name] = RuleCount(form="", check=name)
            setattr(count, attribute, getattr(count, attribute) + number)


# ---------------------------------------------------------------------------------------------
# Runs: a re-check asked for on a page, run by the worker, its progress on the page.


def recheck_request(*, actor: Any, study: Study, reason: str = "") -> RecheckRun:
    """Queue a whole-study re-check for the worker; return its run, whose progress it updates.

    A data manager of the whole study may ask; a run already queued or running for the study
    is returned instead of a second one."""
    from carnet.accounts.permissions import PermissionDenied, site_scope
    from carnet.accounts.roles import Action
    from carnet.quality.recheck_tasks import recheck_run
    from carnet.worker.services import enqueue_after_commit

    if not site_scope(actor, Action.MANAGE_DATA, study=study).all_sites:
        raise PermissionDenied(
            _(
                "Only a data manager of the whole study may re-check it: it opens and closes"
                " queries at every site."
            )
        )
    with transaction.atomic():
        pending = (
            RecheckRun.objects.select_for_update()
            .filter(study=study, status__in=[RecheckStatus.QUEUED, RecheckStatus.RUNNING])
            .first()
        )
        if pending is not None:
            return pending
        run = RecheckRun.objects.create(
            study=study,
            requested_by=actor,
            reason=reason.strip(),
            forms_total=recheck_steps(study),
        )
        enqueue_after_commit(recheck_run, run.pk)
    return run


def recheck_execute(*, run: RecheckRun) -> RecheckRun:
    """Run a queued re-check, writing its progress as it goes (each write its own commit, so
    the page sees it); a run already done is left as it is (a task may run twice)."""
    if run.status == RecheckStatus.DONE:
        return run
    run.status, run.started_at, run.forms_done = RecheckStatus.RUNNING, utc_now(), 0
    run.save(update_fields=["status", "started_at", "forms_done"])

    def progress(done: int, total: int) -> None:
        RecheckRun.objects.filter(pk=run.pk).update(forms_done=done, forms_total=total)

    try:
        outcome = checks_recheck(
            actor=run.requested_by, study=run.study, reason=run.reason, progress=progress
        )
    except Exception as error:
        RecheckRun.objects.filter(pk=run.pk).update(
            status=RecheckStatus.FAILED, error=str(error)[:2000], finished_at=utc_now()
        )
        raise
    RecheckRun.objects.filter(pk=run.pk).update(
        status=RecheckStatus.DONE, outcome=outcome.as_json(), finished_at=utc_now()
    )
    run.refresh_from_db()
    return run
