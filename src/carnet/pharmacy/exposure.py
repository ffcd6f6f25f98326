"""Exposure per patient and product: the cumulative dose, the duration of exposure and the
relative dose intensity (RDI) against the protocol's dose.

Two sources, in this order:

- **the casebook's administration forms**, where the study YAML says which form and items
  record each dose given (``design.pharmacy.administration``): the doses given, the days, and
  the protocol dose of each administration (fixed, or per kg of the weight of the same visit);
- **the pharmacy's dispensing** otherwise (no administration of the product recorded for the
  patient): the units dispensed minus those brought back unused, against the protocol's units
  of the dispensing visits received (``kits`` of the rule × the product's ``per_kit``; hospital
  stock has no per-kit quantity, so its intensity is left empty).

Everything is computed set-wise on Polars frames read in a few queries, whatever the number
of patients. Nothing here names an arm: the caller joins the groups it may show.
"""

from __future__ import annotations

from datetime import datetime

import polars as pl
from django.db.models import F, TextField
from django.db.models.functions import Cast

from carnet.audit.models import AuditEvent
from carnet.capture.models import FormInstance
from carnet.interop.datasets import ITEM_CHANGE
from carnet.pharmacy.models import Dispensing, Return
from carnet.pharmacy.plan import Administration, PharmacyPlan, pharmacy_plan
from carnet.studies.models import Study
from carnet.subjects.environments import Environment
from carnet.subjects.models import Subject

ADMINISTRATION = "administration"
DISPENSING = "dispensing"

SCHEMA = {
    "subject": pl.String,
    "product": pl.String,
    "source": pl.String,
    "unit": pl.String,
    "administrations": pl.Int64,
    "cumulative_dose": pl.Float64,
    "planned_dose": pl.Float64,
    "first_on": pl.Date,
    "last_on": pl.Date,
    "duration_days": pl.Int64,
    "relative_dose_intensity": pl.Float64,
}


def _empty() -> pl.DataFrame:
    return pl.DataFrame(schema=SCHEMA)


# --- the casebook ----------------------------------------------------------------------------


def _values(study: Study, forms: set[str], items: set[str], *, seq: int | None) -> pl.DataFrame:
    """Return the last state (at audit event ``seq``, or now) of the named items of the named
    forms, in production: subject_id, event, occurrence, form, item, text."""
    events = AuditEvent.objects.filter(
        chain=study.audit_chain,
        action="item.changed",
        new__form__in=sorted(forms),
        new__item__in=sorted(items),
    )
    if seq is not None:
        events = events.filter(seq__lte=seq)
    rows = list(
        events.order_by()
        .annotate(body=Cast(F("new"), TextField()))
        .values_list("seq", "target_id", "body")
    )
    if not rows:
        return pl.DataFrame(
            schema={
                "subject_id": pl.Int64,
                "event": pl.String,
                "occurrence": pl.Int64,
                "form": pl.String,
                "item": pl.String,
                "text": pl.String,
            }
        )
    changes = (
        pl.DataFrame(
            rows, schema={"seq": pl.Int64, "target": pl.String, "body": pl.String}, orient="row"
        )
        .select(
            "seq",
            pl.col("target").str.split(":").list.first().cast(pl.Int64).alias("instance"),
            pl.col("body").str.json_decode(ITEM_CHANGE).alias("body"),
        )
        .unnest("body")
        .sort("seq")
        .unique(subset=["instance", "item", "row"], keep="last")
        .filter(~pl.col("removed").fill_null(False))
    )
    # The owners of the study's forms named, not of a list of ids: one statement whatever the
    # number of forms recorded (10,000 patients' ids exceeded SQLite's limit on parameters).
    owners = pl.DataFrame(
        list(
            FormInstance.objects.filter(
                subject__study=study,
                form__in=sorted(forms),
                environment=Environment.PRODUCTION,
            ).values_list("pk", "subject_id")
        ),
        schema={"instance": pl.Int64, "subject_id": pl.Int64},
        orient="row",
    )
    return changes.join(owners, on="instance").select(
        "subject_id", "event", "occurrence", "form", "item", "text", "instance"
    )


def _administrations(
    plan: PharmacyPlan, rules: tuple[Administration, ...], values: pl.DataFrame
) -> pl.DataFrame:
    """Return one row per administration recorded (a dose given): subject_id, product, unit,
    dose, given_on, planned (None when the weight it needs is not recorded), every_days."""
    frames = []
    for rule in rules:
        mine = values.filter(
            (pl.col("form") == rule.form) & pl.col("item").is_in([rule.dose, rule.date])
        )
        if mine.is_empty():
            continue
        given = (
            mine.pivot(
                on="item",
                index=["instance", "subject_id", "event", "occurrence"],
                values="text",
                aggregate_function="first",
            )
            .with_columns(
                pl.col(rule.dose).cast(pl.Float64, strict=False).alias("dose")
                if rule.dose in mine["item"]
                else pl.lit(None, pl.Float64).alias("dose"),
                pl.col(rule.date).str.to_date("%Y-%m-%d", strict=False).alias("given_on")
                if rule.date in mine["item"]
                else pl.lit(None, pl.Date).alias("given_on"),
            )
            .filter(pl.col("dose").is_not_null() & pl.col("given_on").is_not_null())
        )
        if rule.planned_per_kg is not None:
            # The weight of the same visit (any form of it): the dose is per kg of that day.
            weights = (
                values.filter(pl.col("item") == rule.weight)
                .group_by("subject_id", "event", "occurrence")
                .agg(pl.col("text").last().cast(pl.Float64, strict=False).alias("weight"))
            )
            given = given.join(
                weights, on=["subject_id", "event", "occurrence"], how="left"
            ).with_columns((pl.col("weight") * float(rule.planned_per_kg)).alias("planned"))
        else:
            given = given.with_columns(
                pl.lit(float(rule.planned_dose or 0), pl.Float64).alias("planned")
            )
        unit = rule.unit or next((p.unit for p in plan.products if p.code == rule.product), "")
        frames.append(
            given.select(
                "subject_id",
                pl.lit(rule.product).alias("product"),
                pl.lit(unit).alias("unit"),
                "dose",
                "given_on",
                pl.col("planned").cast(pl.Float64),
                pl.lit(rule.every_days, pl.Int64).alias("every_days"),
            )
        )
    if not frames:
        return pl.DataFrame()
    return pl.concat(frames)


def _from_administration(administrations: pl.DataFrame) -> pl.DataFrame:
    """Return the exposure per subject and product from the administrations recorded.

    Without a cycle length the intensity is the dose given over the protocol's dose of the
    administrations received; with one (``every_days``) it is per day of treatment: the dose
    over the days from the first administration to the end of the last one's cycle, against
    the protocol's dose per cycle day, so a delayed cycle lowers it."""
    grouped = administrations.group_by("subject_id", "product").agg(
        pl.col("unit").first(),
        pl.len().cast(pl.Int64).alias("administrations"),
        pl.col("dose").sum().alias("cumulative_dose"),
        # One unknown planned dose (a weight not recorded) leaves the total unknown.
        pl.when(pl.col("planned").null_count() == 0)
        .then(pl.col("planned").sum())
        .otherwise(None)
        .alias("planned_dose"),
        pl.col("given_on").min().alias("first_on"),
        pl.col("given_on").max().alias("last_on"),
        pl.col("every_days").first(),
    )
    span = (pl.col("last_on") - pl.col("first_on")).dt.total_days()
    duration = (
        pl.when(pl.col("every_days").is_not_null())
        .then(span + pl.col("every_days"))
        .otherwise(span + 1)
    )
    return grouped.with_columns(
        pl.lit(ADMINISTRATION).alias("source"), duration.cast(pl.Int64).alias("duration_days")
    ).with_columns(
        pl.when(pl.col("every_days").is_not_null())
        .then(
            (pl.col("cumulative_dose") / pl.col("duration_days"))
            / (pl.col("planned_dose") / pl.col("administrations") / pl.col("every_days"))
        )
        .otherwise(pl.col("cumulative_dose") / pl.col("planned_dose"))
        .round(3)
        .alias("relative_dose_intensity")
    )


# --- the pharmacy's dispensing ---------------------------------------------------------------


def _from_dispensing(
    study: Study, plan: PharmacyPlan, environment: str, *, at: datetime | None
) -> pl.DataFrame:
    """Return the exposure per subject and product from dispensing minus returns."""
    dispensed = Dispensing.objects.filter(study=study, environment=environment)
    returned = Return.objects.filter(study=study, environment=environment)
    if at is not None:
        dispensed = dispensed.filter(recorded_at__lte=at)
        returned = returned.filter(recorded_at__lte=at)
    rows = pl.DataFrame(
        list(
            dispensed.values_list(
                "subject_id", "product", "quantity", "event", "occurrence", "dispensed_on"
            )
        ),
        schema={
            "subject_id": pl.Int64,
            "product": pl.String,
            "quantity": pl.Float64,
            "event": pl.String,
            "occurrence": pl.Int64,
            "dispensed_on": pl.Date,
        },
        orient="row",
    )
    if rows.is_empty():
        return pl.DataFrame()
    back = (
        pl.DataFrame(
            list(returned.values_list("subject_id", "product", "quantity")),
            schema={"subject_id": pl.Int64, "product": pl.String, "quantity": pl.Float64},
            orient="row",
        )
        .group_by("subject_id", "product")
        .agg(pl.col("quantity").sum().alias("returned"))
    )
    planned = pl.DataFrame(
        [
            (code, _planned_per_visit(plan, code), product.unit)
            for code, product in ((p.code, p) for p in plan.products)
        ],
        schema={"product": pl.String, "per_visit": pl.Float64, "unit": pl.String},
        orient="row",
    )
    return (
        rows.group_by("subject_id", "product")
        .agg(
            pl.col("quantity").sum().alias("dispensed"),
            pl.struct("event", "occurrence").n_unique().cast(pl.Int64).alias("administrations"),
            pl.col("dispensed_on").min().alias("first_on"),
            pl.col("dispensed_on").max().alias("last_on"),
        )
        .join(back, on=["subject_id", "product"], how="left")
        .join(planned, on="product", how="left")
        .with_columns(
            (pl.col("dispensed") - pl.col("returned").fill_null(0)).alias("cumulative_dose"),
            (pl.col("per_visit") * pl.col("administrations")).alias("planned_dose"),
            ((pl.col("last_on") - pl.col("first_on")).dt.total_days() + 1)
            .cast(pl.Int64)
            .alias("duration_days"),
            pl.lit(DISPENSING).alias("source"),
        )
        .with_columns(
            (pl.col("cumulative_dose") / pl.col("planned_dose"))
            .round(3)
            .alias("relative_dose_intensity")
        )
    )


def _planned_per_visit(plan: PharmacyPlan, product: str) -> float | None:
    """Return the units the protocol dispenses of ``product`` at one visit (kit mode), or None
    when the study does not say (hospital stock, or no ``per_kit``)."""
    per_kit = next((p.per_kit for p in plan.products if p.code == product), None)
    kits = next((rule.kits for rule in plan.dispensing if rule.product == product), None)
    if not plan.kits or per_kit is None or kits is None:
        return None
    return float(per_kit * kits)


# --- together --------------------------------------------------------------------------------


def exposure_frame(
    study: Study,
    *,
    environment: str = Environment.PRODUCTION,
    seq: int | None = None,
    at: datetime | None = None,
    subjects: set[str] | None = None,
) -> pl.DataFrame:
    """Return one row per patient and product (columns of ``SCHEMA``): from the casebook's
    administrations where some are recorded, else from dispensing minus returns.

    ``seq`` and ``at`` keep what was recorded up to a cut-off (its audit event and its time);
    ``subjects`` keeps the subjects a reader may see (None: all). Server side: the caller
    scopes the reader; nothing here names an arm."""
    plan = pharmacy_plan(study)
    if plan is None:
        return _empty()
    parts = []
    administered = pl.DataFrame()
    if plan.administration and environment == Environment.PRODUCTION:
        forms = {rule.form for rule in plan.administration}
        items = {rule.dose for rule in plan.administration} | {
            rule.date for rule in plan.administration
        }
        weights = {rule.weight for rule in plan.administration if rule.weight}
        if weights:
            # The weight may sit on another form of the visit: read its item wherever it is.
            definition = study.current_version.parsed() if study.current_version else None
            if definition is not None:
                forms |= {
                    form.name for form, _g, item in definition.items() if item.name in weights
                }
            items |= weights
        records = _administrations(plan, plan.administration, _values(study, forms, items, seq=seq))
        if not records.is_empty():
            administered = _from_administration(records)
            parts.append(administered)
    dispensed = _from_dispensing(study, plan, environment, at=at)
    if not dispensed.is_empty():
        if not administered.is_empty():
            # Dispensing stands in only where no administration is recorded.
            dispensed = dispensed.join(
                administered.select("subject_id", "product"),
                on=["subject_id", "product"],
                how="anti",
            )
        parts.append(dispensed)
    if not parts:
        return _empty()
    columns = [name for name in SCHEMA if name != "subject"]
    frame = pl.concat(
        [part.select("subject_id", *(pl.col(c).cast(SCHEMA[c]) for c in columns)) for part in parts]
    )
    # Every subject's identifier, joined below: one statement whatever the number of patients.
    identifiers = pl.DataFrame(
        list(
            Subject.objects.filter(study=study, environment=environment).values_list(
                "pk", "identifier"
            )
        ),
        schema={"subject_id": pl.Int64, "subject": pl.String},
        orient="row",
    )
    frame = frame.join(identifiers, on="subject_id").select(list(SCHEMA))
    if subjects is not None:
        frame = frame.filter(pl.col("subject").is_in(sorted(subjects)))
    return frame.sort("subject", "product")


def exposure_rows(study: Study, environment: str) -> list[dict[str, object]]:
    """Return the exposures as dicts (subject, product, source, cumulative dose, duration,
    relative dose intensity…), for a page or the API."""
    return exposure_frame(study, environment=environment).to_dicts()
