"""Pages of the safety app."""

from django.urls import URLPattern, path

from carnet.safety import views

app_name = "safety"

urlpatterns: list[URLPattern] = [
    path("studies/<str:identifier>/safety/", views.dashboard, name="dashboard"),
    path("studies/<str:identifier>/safety/rsi/", views.rsi_page, name="rsi"),
    path(
        "studies/<str:identifier>/safety/reconciliation/",
        views.reconciliation_page,
        name="reconciliation",
    ),
    path("studies/<str:identifier>/safety/listing.csv", views.line_listing, name="listing"),
    path("studies/<str:identifier>/safety/<str:reference>/", views.report_page, name="report"),
    path(
        "studies/<str:identifier>/safety/<str:reference>/cioms-<int:number>.pdf",
        views.cioms_pdf,
        name="cioms",
    ),
    path(
        "studies/<str:identifier>/safety/<str:reference>/icsr-<int:number>.xml",
        views.e2b_xml,
        name="e2b",
    ),
]
