"""The `local` profile: `make run` on one machine, plain HTTP on localhost."""

from carnet.config import environment
from carnet.config.settings.base import *  # noqa: F403

DEBUG = environment.flag("CARNET_DEBUG", default=True)
# Static files straight from the apps, so `make run` works before collectstatic.
WHITENOISE_USE_FINDERS = True
