"""Pages of data capture: the casebook and the case report forms (see views.py)."""

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
