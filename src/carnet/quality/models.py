"""Models of the quality app (each part in its own module, imported here)."""

from carnet.quality.deviation_models import Deviation  # noqa: F401
