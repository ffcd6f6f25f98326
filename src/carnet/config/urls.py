"""URL map of the whole site: each app's pages are included once, from its own urls.py."""

from django.urls import include, path

from carnet.config.api import api
from carnet.web.views import favicon

urlpatterns = [
    path("api/", api.urls),
    path("", include("carnet.messaging.urls")),
    # Browsers ask for it on every site whatever the page says: answer rather than 404.
    path("favicon.ico", favicon, name="favicon"),
    path("", include("carnet.accounts.urls")),
    path("", include("carnet.studies.urls")),
    path("", include("carnet.subjects.urls")),
    path("", include("carnet.randomization.urls")),
    path("", include("carnet.quality.urls")),
    path("", include("carnet.laboratory.urls")),
    path("", include("carnet.interop.urls")),
    path("", include("carnet.oversight.urls")),
    path("", include("carnet.safety.urls")),
    path("", include("carnet.monitoring.urls")),
    path("", include("carnet.reports.urls")),
    path("", include("carnet.redcap.urls")),
    path("", include("carnet.coding.urls")),
    path("", include("carnet.pharmacy.urls")),
    path("", include("carnet.biobank.urls")),
    path("", include("carnet.database_lock.urls")),
    path("", include("carnet.capture.urls")),
    path("", include("carnet.web.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
]
