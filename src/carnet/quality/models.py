"""Data quality models."""

from carnet.quality.recheck_models import RecheckRun, RecheckStatus  # noqa: F401 (re-checks)
