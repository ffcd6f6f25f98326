"""Queries the ORM builds and compiles once, then runs again with new values.

Building and compiling a query costs Django a quarter to two thirds of a millisecond of CPU, often
more than the database takes to answer it: a form's save sends about ten such reads, the demo's
load forty thousand. A `Prepared` query is written with the ORM as usual, as a function of its
values; the first call per database kind builds and compiles it twice, with two sets of marker
values, and finds where each value went among the statement's parameters. Later calls send that
statement with the new values in their places (typed as the ORM types them), and turn the rows
into model instances as the ORM does (its own converters, `Model.from_db`).

Only what can be proven the same is prepared: values of the declared kinds (int, str, date, aware
datetime) that reach the statement as the ORM adapts them (a wrapper type, as psycopg's Int4;
a date or time as the database takes it, text on SQLite), rows of model instances (with their
select_related rows and annotations), no prefetches. Anything else runs through the ORM each
time, with the same result.

The query must depend on its values only: whatever else it reads when it is built (the clock,
a setting, the language) is frozen into the statement at the first call.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Generic, TypeVar

from django.core.exceptions import EmptyResultSet
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Model, QuerySet
from django.db.models.query import (  # type: ignore[attr-defined]
    ModelIterable,
    get_related_populators,
)
from django.db.models.sql.compiler import SQLCompiler
from django.db.transaction import TransactionManagementError

M = TypeVar("M", bound=Model)

# The query is built twice, with two sets of marker values: a parameter that follows the marker
# from one build to the other is the caller's value, one that stays is a constant of the query
# (even if it happens to equal a marker). Integer markers fit every integer column (a small
# positive one included): Django answers a value out of a column's range with no rows, leaving
# its condition out of the statement.
_INT_MARKERS = (31_001, 32_003)


# Dates and times far from any clinical one, a century apart from one build to the other.
_DATE_MARKERS = (date(2401, 1, 1), date(2501, 1, 1))


def _marker(kind: type, position: int, build: int = 0) -> Any:
    if kind is int:
        return _INT_MARKERS[build] + position
    if kind is str:
        return f"\x1fcarnet-prepared-{build}-{position}\x1f"
    if kind is date:
        return _DATE_MARKERS[build] + timedelta(days=position)
    if kind is datetime:
        day = _DATE_MARKERS[build]
        return datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(seconds=position)
    raise TypeError(
        f"A prepared query takes int, str, date or datetime values, not {kind.__name__}."
    )


# A value the statement cannot take as the ORM would send it: the ORM answers the call.
_TO_THE_ORM = object()


def _adapter(kind: type, connection: BaseDatabaseWrapper) -> Callable[[Any], Any]:
    """Return how the ORM turns a value of this kind into a parameter of this database."""
    if kind is date:
        return connection.ops.adapt_datefield_value
    if kind is datetime:
        adapt = connection.ops.adapt_datetimefield_value

        def aware(value: datetime) -> Any:
            # The ORM makes a naive time aware in the current time zone, with a warning.
            return _TO_THE_ORM if value.tzinfo is None else adapt(value)

        return aware
    return _same


def _same(value: Any) -> Any:
    return value


def _wrapped(wrapper: type) -> Callable[[int], Any]:
    """Return how an integer is wrapped as the ORM wraps it (psycopg's Int4, say)."""
    bits = _INTEGER_BITS.get(wrapper.__name__)

    def wrap(value: int) -> Any:
        if bits is not None and not -(2**bits) <= value < 2**bits:
            return _TO_THE_ORM  # out of the type's range: the ORM answers it with no rows
        return wrapper(value)

    return wrap


@dataclass(frozen=True)
class _Statement:
    sql: str
    # For each parameter of the statement: the position of the caller's value and how the ORM
    # adapts it (wrapped in psycopg's Int4 for an integer column on PostgreSQL, a date as text
    # on SQLite, say), or None and a constant of the query itself.
    parameters: tuple[tuple[int | None, Any], ...]
    compiler: SQLCompiler
    model: type[Model]
    fields: tuple[str, ...]
    start: int
    for_update: bool
    related: tuple[Any, ...]  # Django's populators of the select_related rows
    annotations: tuple[tuple[str, int], ...]


_UNPREPARED = None  # a query that cannot be prepared: the ORM runs it each time


class Prepared(Generic[M]):
    """A query of model rows built by ``build(*values)``, compiled once per database kind."""

    def __init__(self, build: Callable[..., QuerySet[M]], *kinds: type) -> None:
        for kind in kinds:
            _marker(kind, 0)  # refuses a kind it cannot mark
        self._build = build
        self._kinds = kinds
        # Per database kind, and whether it is the query's first row only.
        self._statements: dict[tuple[str, bool], _Statement | None] = {}
        self._lock = threading.Lock()

    def __call__(self, *values: Any, using: str = DEFAULT_DB_ALIAS) -> list[M]:
        """Return the query's rows for ``values``, as the ORM would."""
        return self._run(values, using, first=False)

    def first(self, *values: Any, using: str = DEFAULT_DB_ALIAS) -> M | None:
        """Return the query's first row for ``values``, as its ``.first()`` would, or None."""
        found = self._run(values, using, first=True)
        return found[0] if found else None

    def _queryset(self, values: Sequence[Any], using: str, *, first: bool) -> QuerySet[M]:
        queryset = self._build(*values).using(using)
        if first:  # as QuerySet.first(): its own order, or the primary key's
            queryset = (queryset if queryset.ordered else queryset.order_by("pk"))[:1]
        return queryset

    def _run(self, values: Sequence[Any], using: str, *, first: bool) -> list[M]:
        if len(values) != len(self._kinds) or any(
            type(value) is not kind for value, kind in zip(values, self._kinds, strict=True)
        ):
            return list(self._queryset(values, using, first=first))  # None, a bool…: the ORM
        connection = connections[using]
        key = (connection.vendor, first)
        if key not in self._statements:
            with self._lock:
                if key not in self._statements:
                    self._statements[key] = self._prepare(using, first=first)
        statement = self._statements[key]
        if statement is None:
            return list(self._queryset(values, using, first=first))
        if statement.for_update and connection.get_autocommit():
            raise TransactionManagementError(
                "select_for_update cannot be used outside of a transaction."
            )
        parameters = _parameters(statement, values)
        if parameters is None:  # a value out of its column's range: the ORM answers it unasked
            return list(self._queryset(values, using, first=first))
        with connection.cursor() as cursor:
            cursor.execute(statement.sql, parameters)
            rows = cursor.fetchall()
        return _instances(statement, rows, using)

    def _prepare(self, using: str, *, first: bool) -> _Statement | None:
        builds = [
            [_marker(kind, position, build) for position, kind in enumerate(self._kinds)]
            for build in (0, 1)
        ]
        queryset = self._queryset(builds[0], using, first=first)
        if (
            queryset._iterable_class is not ModelIterable
            or vars(queryset).get("_prefetch_related_lookups")
            or vars(queryset).get("_known_related_objects")
        ):
            return _UNPREPARED
        compiler = queryset.query.get_compiler(using=using)
        # Compiling a FOR UPDATE query outside a transaction raises; the check is kept for
        # every later call above.
        try:
            sql, parameters = compiler.as_sql()
            other = self._queryset(builds[1], using, first=first).query.get_compiler(using=using)
            other_sql, other_parameters = other.as_sql()
        except EmptyResultSet:  # a query known to find nothing: the ORM answers it unasked
            return _UNPREPARED
        info = compiler.klass_info
        if info is None or sql != other_sql:
            return _UNPREPARED
        adapters = [_adapter(kind, connections[using]) for kind in self._kinds]
        adapted = [[adapt(marker) for adapt, marker in zip(adapters, builds[0], strict=True)]]
        adapted += [[adapt(marker) for adapt, marker in zip(adapters, builds[1], strict=True)]]
        slots = _slots(parameters, other_parameters, adapted, adapters)
        if slots is None:
            return _UNPREPARED
        select_fields: Sequence[int] = info["select_fields"]
        start, end = select_fields[0], select_fields[-1] + 1
        return _Statement(
            sql=sql,
            parameters=tuple(slots),
            compiler=compiler,
            model=info["model"],
            fields=tuple(column[0].target.attname for column in compiler.select[start:end]),
            start=start,
            # As the ORM: only where FOR UPDATE is sent (not on SQLite).
            for_update=bool(queryset.query.select_for_update)
            and connections[using].features.has_select_for_update,
            related=tuple(get_related_populators(info, compiler.select, using)),
            annotations=tuple(compiler.annotation_col_map.items()),
        )


def _instances(statement: _Statement, rows: list[Any], using: str) -> list[Any]:
    """Return the model instances of the rows, as the ORM's ModelIterable makes them."""
    start, end = statement.start, statement.start + len(statement.fields)
    instances = []
    for row in statement.compiler.results_iter(results=[rows]):
        instance = statement.model.from_db(using, statement.fields, row[start:end])
        for populator in statement.related:
            populator.populate(row, instance)
        for name, position in statement.annotations:
            setattr(instance, name, row[position])
        instances.append(instance)
    return instances


# psycopg's integer types, by name (psycopg is not needed on SQLite), and the bits of their range.
_INTEGER_BITS = {"Int2": 15, "Int4": 31, "Int8": 63}


def _parameters(statement: _Statement, values: Sequence[Any]) -> list[Any] | None:
    """Return the statement's parameters for ``values``, adapted as the ORM adapts them; None
    for a value the ORM would not send as it is (out of its type's range, a naive time)."""
    parameters = []
    for slot, fixed in statement.parameters:
        if slot is None:
            parameters.append(fixed)
            continue
        parameter = fixed(values[slot])
        if parameter is _TO_THE_ORM:
            return None
        parameters.append(parameter)
    return parameters


def _slots(
    parameters: Sequence[Any],
    other_parameters: Sequence[Any],
    adapted: Sequence[Sequence[Any]],
    adapters: Sequence[Callable[[Any], Any]],
) -> list[tuple[int | None, Any]] | None:
    """Return, for each parameter, the position of the value it is and how it is adapted, or
    None and the constant; None when a value reached the statement changed (a LIKE pattern, a
    cast) or not at all.

    ``parameters`` and ``other_parameters`` are the two builds'; ``adapted`` their markers as
    ``adapters`` turn them into parameters, one list per build.
    """
    if len(parameters) != len(other_parameters):
        return None
    slots: list[tuple[int | None, Any]] = []
    for parameter, other in zip(parameters, other_parameters, strict=True):
        if type(parameter) is type(other) and parameter == other:
            slots.append((None, parameter))  # the same in both builds: the query's own
            continue
        position = next(
            (
                at
                for at, (marker, other_marker) in enumerate(zip(*adapted, strict=True))
                if isinstance(parameter, type(marker))
                and parameter == marker
                and type(other) is type(parameter)
                and other == other_marker
            ),
            None,
        )
        if position is None:  # moved with the values, but changed on the way
            return None
        adapt = adapters[position]
        if type(parameter) is not type(adapted[0][position]):  # an integer the ORM wrapped
            adapt = _wrapped(type(parameter))
        slots.append((position, adapt))
    # A value found nowhere was changed past recognition (wrapped, cast): never prepared.
    if {slot for slot, _constant in slots if slot is not None} != set(range(len(adapted[0]))):
        return None
    return slots
