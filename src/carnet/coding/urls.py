"""Pages of the coding app."""

from django.urls import URLPattern

app_name = "coding"

urlpatterns: list[URLPattern] = []
