"""Pages of the reports app."""

from django.urls import URLPattern, path

from carnet.reports import views

app_name = "reports"

urlpatterns: list[URLPattern] = [
    path("design/", views.design_calculator, name="design"),
    path("activity/", views.activity_page, name="activity"),
    path("activity.csv", views.activity_csv_download, name="activity_csv"),
    path("activity.pdf", views.activity_pdf_download, name="activity_pdf"),
    path("studies/<str:identifier>/reports/", views.statistics_page, name="statistics"),
    path(
        "studies/<str:identifier>/reports/<str:cutoff>/<str:kind>/",
        views.report_page,
        name="report",
    ),
    path(
        "studies/<str:identifier>/reports/<str:cutoff>/<str:kind>.pdf",
        views.report_pdf_download,
        name="report_pdf",
    ),
    path(
        "studies/<str:identifier>/reports/<str:cutoff>/<str:kind>/figures/<str:name>.<str:file_format>",
        views.report_figure,
        name="figure",
    ),
    path(
        "studies/<str:identifier>/dsmb-reports/<int:run_id>/progress/",
        views.dsmb_progress,
        name="dsmb_progress",
    ),
    path(
        "studies/<str:identifier>/dsmb-reports/<int:run_id>/download/",
        views.dsmb_download,
        name="dsmb_download",
    ),
]
