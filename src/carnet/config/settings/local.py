"""The `local` profile: `make run` on one machine, plain HTTP on localhost."""

from carnet.config import environment
from carnet.config.settings.base import *  # noqa: F403

# Carnet's own error pages, as users will meet them; CARNET_DEBUG=1 brings Django's debug pages
# (tracebacks, settings, URL lists) back for a developer.
DEBUG = environment.flag("CARNET_DEBUG", default=False)
# Static files straight from the apps, so `make run` works before collectstatic.
WHITENOISE_USE_FINDERS = True
