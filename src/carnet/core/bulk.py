"""Inserting the rows of one change in one statement, for the hot paths of a save.

`QuerySet.bulk_create` prepares every field of every row through its field class
(`get_db_prep_save` and friends); for a form save's 25 values and 26 audit events that was a
fifth of the request. The models written here have plain fields, so each field's adaptation is
chosen once per statement: dates, times and JSON through the database's own adapters, the rest
as they are. What bulk_create would refuse (a field type not handled here) is refused too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from django.db import connections, models

_PLAIN = (
    models.CharField,
    models.TextField,
    models.IntegerField,
    models.BooleanField,
    models.DecimalField,
    models.ForeignKey,
)


def _adapter(field: models.Field[Any, Any], using: str) -> Callable[[Any], Any]:
    operations = connections[using].ops
    if isinstance(field, models.DateTimeField):
        return operations.adapt_datetimefield_value
    if isinstance(field, models.DateField):
        return operations.adapt_datefield_value
    if isinstance(field, models.JSONField):
        encoder = field.encoder
        return lambda value: None if value is None else operations.adapt_json_value(value, encoder)
    if isinstance(field, _PLAIN):
        return lambda value: value
    raise TypeError(f"rows_insert does not handle {type(field).__name__} ({field.name}).")


def rows_insert(objects: Sequence[models.Model], *, using: str = "default") -> None:
    """Insert new model instances of one model in one INSERT; give each its primary key."""
    if not objects:
        return
    model = type(objects[0])
    meta = model._meta
    fields = [field for field in meta.concrete_fields if not field.primary_key]
    adapters = [_adapter(field, using) for field in fields]
    stamped = [f for f in fields if getattr(f, "auto_now", 0) or getattr(f, "auto_now_add", 0)]
    connection = connections[using]
    quote = connection.ops.quote_name
    parameters: list[Any] = []
    for instance in objects:
        for field in stamped:
            field.pre_save(instance, add=True)  # auto_now(_add): the time of the insert
        parameters += [
            adapt(getattr(instance, field.attname))
            for field, adapt in zip(fields, adapters, strict=True)
        ]
    row = "(" + ", ".join(["%s"] * len(fields)) + ")"
    # Names come from the model and are quoted; every value is a parameter.
    statement = (
        f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(f.column) for f in fields)}) "  # noqa: S608
        f"VALUES {', '.join([row] * len(objects))} RETURNING {quote(meta.pk.column)}"
    )
    with connection.cursor() as cursor:
        cursor.execute(statement, parameters)
        for instance, (pk,) in zip(objects, cursor.fetchall(), strict=True):
            instance.pk = pk
            instance._state.adding = False
            instance._state.db = using
