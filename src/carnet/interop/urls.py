"""Interop pages: a study's cut-offs and exports."""

from django.urls import path

from carnet.interop import views

app_name = "interop"

urlpatterns = [
    path("studies/<str:identifier>/exports/", views.exports_page, name="exports"),
]
