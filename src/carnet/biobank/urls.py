"""Pages of the biobank app."""

from django.urls import URLPattern

app_name = "biobank"

urlpatterns: list[URLPattern] = []
