"""Pages of the pharmacy app."""

from django.urls import URLPattern

from carnet.pharmacy import urls_dispensing

app_name = "pharmacy"

urlpatterns: list[URLPattern] = [*urls_dispensing.urlpatterns]
