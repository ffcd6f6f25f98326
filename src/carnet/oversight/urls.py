"""Pages of the oversight app."""

from django.urls import URLPattern

app_name = "oversight"

urlpatterns: list[URLPattern] = []
