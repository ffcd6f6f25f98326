"""Inserting the rows of one change in one statement, for the hot paths of a save.

`QuerySet.bulk_create` prepares every field of every row through its field class
(`get_db_prep_save` and friends); for a form save's 25 values and 26 audit events that was a
fifth of the request. The models written here have plain fields, so each field's adaptation is
chosen once per statement: dates, times and JSON through the database's own adapters, the rest
as they are. What bulk_create would refuse (a field type not handled here) is refused too.

On PostgreSQL the rows travel as one JSON parameter that the server expands
(`json_populate_recordset`): the driver adapts one value instead of hundreds, which was most of
the cost of these statements (about 4 µs per parameter).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import date, datetime
from decimal import Decimal
from operator import attrgetter
from typing import Any

from django.db import IntegrityError, connections, models, transaction

_PLAIN = (
    models.CharField,
    models.TextField,
    models.IntegerField,
    models.BooleanField,
    models.DecimalField,
    models.ForeignKey,
)


def _adapter(field: models.Field[Any, Any], using: str) -> Callable[[Any], Any] | None:
    """Return how to adapt the field's values for the database; None when they go as they are."""
    operations = connections[using].ops
    if isinstance(field, models.DateTimeField):
        return _last_remembered(operations.adapt_datetimefield_value)
    if isinstance(field, models.DateField):
        return operations.adapt_datefield_value
    if isinstance(field, models.JSONField):
        encoder = field.encoder
        return lambda value: None if value is None else operations.adapt_json_value(value, encoder)
    if isinstance(field, _PLAIN):
        return None
    raise TypeError(f"rows_insert does not handle {type(field).__name__} ({field.name}).")


def _last_remembered(adapt: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Return ``adapt`` remembering its last answer: the rows of one change share their time
    (every audit event of a save has the same), which is then adapted once, not per row."""
    last: list[Any] = [object(), None]

    def adapted(value: Any) -> Any:
        if value is not last[0]:
            last[0], last[1] = value, adapt(value)
        return last[1]

    return adapted


def rows_insert(objects: Sequence[models.Model], *, using: str = "default") -> None:
    """Insert new model instances of one model in one INSERT; give each its primary key."""
    if not objects:
        return
    connection = connections[using]
    if not connection.features.can_return_rows_from_bulk_insert:
        # SQLite before 3.35 has no RETURNING: Django's own path, slower, is the correct one.
        type(objects[0])._default_manager.using(using).bulk_create(objects)
        return
    _insert_returning(objects, using=using, conflicts="")


def row_insert_unless_taken(instance: models.Model, *, using: str = "default") -> bool:
    """Insert one new model instance unless a unique constraint already holds such a row.

    Return whether it was inserted (and given its primary key). One statement, where a
    savepoint around a plain INSERT would take three; a conflict with a row another transaction
    is writing waits for that transaction, as the plain INSERT would.
    """
    connection = connections[using]
    if not connection.features.can_return_rows_from_bulk_insert:
        try:
            with transaction.atomic(using=using):
                instance.save(using=using, force_insert=True)
        except IntegrityError:
            instance.pk = None
            return False
        return True
    return _insert_returning([instance], using=using, conflicts=" ON CONFLICT DO NOTHING")


def _stamp(objects: Sequence[models.Model]) -> list[models.Field[Any, Any]]:
    """Set the auto_now(_add) fields (the time of the insert); return the fields to insert."""
    meta = type(objects[0])._meta
    fields = [field for field in meta.concrete_fields if not field.primary_key]
    stamped = [f for f in fields if getattr(f, "auto_now", 0) or getattr(f, "auto_now_add", 0)]
    for instance in objects:
        for field in stamped:
            field.pre_save(instance, add=True)
    return fields


# SQLite's limit on a statement's parameters (SQLITE_MAX_VARIABLE_NUMBER): 32,766 since 3.32,
# 250,000 in Debian's build. A bulk import of a hundred patients writes 50,000 audit events of
# 13 columns: beyond either, it goes in several statements of one transaction.
SQLITE_PARAMETERS = 32_766
# PostgreSQL refuses a parameter of 1 GB or more: the 1.1 million audit events of a
# million-value import, as one JSON parameter, were refused. Ten thousand rows make a few
# megabytes, and as many statements cost no more than one.
ROWS_PER_STATEMENT = 10_000


def _insert_returning(objects: Sequence[models.Model], *, using: str, conflicts: str) -> bool:
    connection = connections[using]
    per_statement = ROWS_PER_STATEMENT
    if connection.vendor != "postgresql":
        fields = len([f for f in type(objects[0])._meta.concrete_fields if not f.primary_key])
        per_statement = min(per_statement, max(1, SQLITE_PARAMETERS // max(1, fields)))
    if len(objects) > per_statement:
        done = True
        with transaction.atomic(using=using):
            for start in range(0, len(objects), per_statement):
                part = objects[start : start + per_statement]
                done = _insert_returning_one(part, using=using, conflicts=conflicts) and done
        return done
    return _insert_returning_one(objects, using=using, conflicts=conflicts)


def _insert_returning_one(objects: Sequence[models.Model], *, using: str, conflicts: str) -> bool:
    fields = _stamp(objects)
    meta = type(objects[0])._meta
    connection = connections[using]
    quote = connection.ops.quote_name
    columns = ", ".join(quote(f.column) for f in fields)
    if connection.vendor == "postgresql":
        rows = [{f.column: getattr(o, f.attname) for f in fields} for o in objects]
        # Names come from the model and are quoted; the rows are the one parameter.
        statement = (
            f"INSERT INTO {quote(meta.db_table)} ({columns}) "  # noqa: S608
            f"SELECT {columns} FROM json_populate_recordset(NULL::{quote(meta.db_table)}, %s)"
            f"{conflicts} RETURNING {quote(meta.pk.column)}"
        )
        parameters: list[Any] = [json.dumps(rows, default=_json_scalar)]
    else:
        parameters = _parameters(objects, fields, using)
        row = "(" + ", ".join(["%s"] * len(fields)) + ")"
        # Names come from the model and are quoted; every value is a parameter.
        statement = (
            f"INSERT INTO {quote(meta.db_table)} ({columns}) "  # noqa: S608
            f"VALUES {', '.join([row] * len(objects))}{conflicts} "
            f"RETURNING {quote(meta.pk.column)}"
        )
    with connection.cursor() as cursor:
        cursor.execute(statement, parameters)
        keys = cursor.fetchall()
    if len(keys) != len(objects):  # only with conflicts skipped, and only for one row
        return False
    for instance, (pk,) in zip(objects, keys, strict=True):
        instance.pk = pk
        instance._state.adding = False
        instance._state.db = using
    return True


def _parameters(
    objects: Sequence[models.Model], fields: list[models.Field[Any, Any]], using: str
) -> list[Any]:
    """Return the rows' values, row after row, adapted where their field needs it.

    One attrgetter reads a row's attributes at once (in C); only dates, times and JSON are
    adapted: most columns go as they are."""
    read = attrgetter(*(field.attname for field in fields))
    adapters = [
        (position, adapt)
        for position, field in enumerate(fields)
        if (adapt := _adapter(field, using)) is not None
    ]
    parameters: list[Any] = []
    if len(fields) == 1:
        for instance in objects:
            value = read(instance)
            parameters.append(adapters[0][1](value) if adapters else value)
        return parameters
    if not adapters:
        for instance in objects:
            parameters.extend(read(instance))
        return parameters
    for instance in objects:
        row = list(read(instance))
        for position, adapt in adapters:
            row[position] = adapt(row[position])
        parameters.extend(row)
    return parameters


def _json_scalar(value: Any) -> Any:
    # Times keep their offset, decimals their digits: the server reads both back exactly.
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"rows_insert cannot send {type(value).__name__}.")
