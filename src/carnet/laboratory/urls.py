"""Laboratory pages."""

from django.urls import URLPattern

app_name = "laboratory"

urlpatterns: list[URLPattern] = []
