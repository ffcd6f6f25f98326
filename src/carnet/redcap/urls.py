"""Pages of the redcap app."""

from django.urls import URLPattern

app_name = "redcap"

urlpatterns: list[URLPattern] = []
