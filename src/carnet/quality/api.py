"""API of the quality app."""

from ninja import Router

router = Router(tags=["quality"])

# Protocol deviations (their own module; the register, declarations, reviews, per protocol).
from carnet.quality.api_deviations import router as deviations_router  # noqa: E402

router.add_router("", deviations_router)
