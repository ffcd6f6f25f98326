"""Addresses of the redcap app: the REDCap-compatible API (PyCap asks that it end in /api/)."""

from django.urls import URLPattern, path

from carnet.redcap import views

app_name = "redcap"

urlpatterns: list[URLPattern] = [
    path("redcap/api/", views.api, name="api"),
]
