"""Pages of the pharmacy app."""

from django.urls import URLPattern

app_name = "pharmacy"

urlpatterns: list[URLPattern] = []
