"""Pages of the database_lock app."""

from django.urls import URLPattern

app_name = "database_lock"

urlpatterns: list[URLPattern] = []
