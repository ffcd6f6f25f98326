"""Interop pages: a study's cut-offs and exports."""

from django.urls import path

from carnet.interop import views

app_name = "interop"

urlpatterns = [
    path("studies/<str:identifier>/exports/", views.exports_page, name="exports"),
    path(
        "studies/<str:identifier>/exports/<int:run_id>/progress/",
        views.export_progress,
        name="export_progress",
    ),
    path(
        "studies/<str:identifier>/exports/<int:run_id>/download/",
        views.export_download,
        name="export_download",
    ),
]
