"""The activity report's "samples collected" column: primary samples (not aliquots nor
derivatives) taken from production patients, per study, site and year of collection, counted in
the database."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from django.db.models import Count
from django.db.models.functions import ExtractYear

from carnet.biobank.models import Sample
from carnet.subjects.environments import Environment


def samples_collected(
    study_ids: Sequence[int], year: int | None
) -> Mapping[tuple[int, int, int], int]:
    """Return the samples collected per (study id, site id, year)."""
    samples = Sample.objects.filter(
        study_id__in=study_ids,
        environment=Environment.PRODUCTION,
        parent__isnull=True,
        collected_at__isnull=False,
    ).annotate(year=ExtractYear("collected_at"))
    if year is not None:
        samples = samples.filter(year=year)
    rows = samples.values("study_id", "site_id", "year").annotate(count=Count("id"))
    return {(row["study_id"], row["site_id"], row["year"]): row["count"] for row in rows}
