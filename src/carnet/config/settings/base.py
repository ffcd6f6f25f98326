"""Settings shared by every profile; everything that varies comes from the environment."""

from datetime import timedelta
from pathlib import Path

from carnet.config import environment

DATA_DIR: Path = environment.data_dir()
SECRET_KEY = environment.secret_key(DATA_DIR)
DEBUG = False
ALLOWED_HOSTS = environment.word_list("CARNET_ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "ninja",  # only for its bundled Swagger UI: /api/docs loads nothing from a CDN
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "axes",
    "django_htmx",
    "django_tasks",
    "django_tasks_db",
    "carnet.audit",
    "carnet.runtime_settings",
    "carnet.worker",
    "carnet.accounts",
    "carnet.messaging",
    "carnet.operations",
    "carnet.studies",
    "carnet.subjects",
    "carnet.capture",
    "carnet.randomization",
    "carnet.quality",
    "carnet.laboratory",
    "carnet.interop",
    "carnet.safety",
    "carnet.oversight",
    "carnet.monitoring",
    "carnet.reports",
    "carnet.redcap",
    "carnet.coding",
    "carnet.pharmacy",
    "carnet.biobank",
    "carnet.database_lock",
    "carnet.web",
]

# Every uploaded file goes to disk as it arrives, refused once it passes the
# `upload_max_megabytes` setting (never held in memory); a file item's page and API install the
# same handler with the item's own limit (carnet/capture/uploads.py).
FILE_UPLOAD_HANDLERS = ["carnet.capture.uploads.SizeLimitUploadHandler"]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "carnet.web.middleware.SecurityHeadersMiddleware",
    "carnet.web.middleware.PermissionsRememberedMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "carnet.web.middleware.TestViewMiddleware",
    "carnet.web.middleware.NoStoreMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "carnet.web.middleware.IdleSessionMiddleware",
    "carnet.web.middleware.SecondFactorMiddleware",
    "carnet.web.middleware.UserLanguageMiddleware",
    # Before any view reads the body: oversized bodies and NUL characters are refused here.
    "carnet.web.middleware.RequestLimitsMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as django-axes requires: it answers locked-out requests.
    "axes.middleware.AxesMiddleware",
]

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: refuses locked-out accounts
    "django.contrib.auth.backends.ModelBackend",
]

ROOT_URLCONF = "carnet.config.urls"
WSGI_APPLICATION = "carnet.config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "carnet.web.context.product",
                "carnet.web.context.navigation",
            ],
        },
    },
]

DATABASES = {"default": environment.database(DATA_DIR)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "/"

# Throttling (django-axes): failures for one user name count while each comes within 15 minutes
# of the previous one; the fifth locks the name for 15 minutes from the last failure.
# Administrators lift locks on the administration pages.
AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = timedelta(minutes=15)
AXES_LOCKOUT_PARAMETERS = ["username"]
# Not by address: a hospital's whole network often leaves through one address, and one person's
# typing errors must not lock every colleague out. Locking the user name stops password guessing.
SILENCED_SYSTEM_CHECKS = ["axes.W006"]
# One address that fails this often (within the lock period of each failure) may not try again
# until the period ends: that stops guessing across many names. It locks no account: the person
# signs in from elsewhere, and tokens never depend on sign-in failures.
CARNET_ADDRESS_FAILURE_LIMIT = environment.positive_integer(
    "CARNET_ADDRESS_FAILURE_LIMIT", default=50
)
# The reverse proxies in front of Carnet (docs/deployment.md): behind one of them, the address
# that counts (throttling, sessions, audit) is the one it forwards, never the proxy's own.
CARNET_TRUSTED_PROXIES = environment.trusted_proxies()
AXES_CLIENT_IP_CALLABLE = "carnet.accounts.browser_sessions.client_address"
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "carnet.accounts.views.signing_in.lockout_response"
AXES_ENABLE_ADMIN = False
AXES_VERBOSE = False

# Sessions: ended after `session_idle_minutes` (runtime setting) without user activity, and in
# any case after 12 hours; closing the browser ends them too.
SESSION_COOKIE_AGE = 12 * 3600
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
OTP_TOTP_ISSUER = "Carnet"

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("fr", "Français")]
LOCALE_PATHS = [Path(__file__).resolve().parent.parent.parent / "locale"]
USE_I18N = True
# One date format per language (carnet/config/formats/<language>/formats.py).
FORMAT_MODULE_PATH = ["carnet.config.formats"]
USE_TZ = True
TIME_ZONE = "UTC"

STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)  # WhiteNoise expects it even before collectstatic
MEDIA_ROOT = DATA_DIR / "uploads"
BACKUP_DIR = DATA_DIR / "backups"

LANGUAGE_COOKIE_HTTPONLY = True
LANGUAGE_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

# Background work (docs/worker.md): tasks are rows of the database, run by `carnet worker`, so
# nothing waits on a broker and nothing is lost while no worker runs.
TASKS = {
    "default": {
        "BACKEND": "django_tasks_db.DatabaseBackend",
        "QUEUES": ["default"],
    }
}

# E-mail goes out through the outbox (carnet.messaging), sent by the worker; SMTP when
# CARNET_EMAIL_HOST is set, the worker's console otherwise (docs/configuration.md).
_EMAIL = environment.email()
EMAIL_BACKEND = _EMAIL["EMAIL_BACKEND"]
EMAIL_HOST = _EMAIL["EMAIL_HOST"]
EMAIL_PORT = _EMAIL["EMAIL_PORT"]
EMAIL_HOST_USER = _EMAIL["EMAIL_HOST_USER"]
EMAIL_HOST_PASSWORD = _EMAIL["EMAIL_HOST_PASSWORD"]
EMAIL_USE_TLS = _EMAIL["EMAIL_USE_TLS"]
EMAIL_USE_SSL = _EMAIL["EMAIL_USE_SSL"]
EMAIL_TIMEOUT = _EMAIL["EMAIL_TIMEOUT"]
DEFAULT_FROM_EMAIL = _EMAIL["DEFAULT_FROM_EMAIL"]
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# Where people reach Carnet, for the links of messages written outside a request (the worker's).
CARNET_SITE_URL = environment.site_url()

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}
