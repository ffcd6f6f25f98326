"""URL map of the whole site."""

from django.urls import include, path

from carnet.config.api import api

urlpatterns = [
    path("api/", api.urls),
    path("", include("carnet.messaging.urls")),
    path("", include("carnet.subjects.urls")),
    path("", include("carnet.web.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
]
