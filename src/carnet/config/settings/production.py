"""The `production` profile: HTTPS only, secure cookies, HSTS; `carnet check-deploy` is clean."""

import os

from carnet.config import environment
from carnet.config.settings.base import *  # noqa: F403

DEBUG = environment.flag("CARNET_DEBUG", default=False)

SECURE_SSL_REDIRECT = environment.flag("CARNET_SSL_REDIRECT", default=True)
if not SECURE_SSL_REDIRECT and CARNET_TRUSTED_PROXIES:  # noqa: F405
    # The declared reverse proxy redirects HTTP to HTTPS itself (docs/deployment.md); without a
    # declared proxy, Django's warning stays and `carnet check-deploy` fails.
    SILENCED_SYSTEM_CHECKS = [*SILENCED_SYSTEM_CHECKS, "security.W008"]  # noqa: F405
# Behind a reverse proxy that terminates TLS and sets X-Forwarded-Proto (docs/deployment.md).
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_HSTS_SECONDS = int(os.environ.get("CARNET_HSTS_SECONDS", str(365 * 24 * 3600)))
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
CSRF_TRUSTED_ORIGINS = environment.word_list("CARNET_CSRF_TRUSTED_ORIGINS", default=[])

STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
