"""Randomisation pages, under their subject."""

from django.urls import path

from carnet.randomization import views

app_name = "randomization"
SUBJECT = "studies/<str:identifier>/subjects/<str:subject>/"

urlpatterns = [
    path(SUBJECT + "randomisation/", views.randomisation_page, name="randomisation"),
]

# The randomisation report (proof for the trial master file): page and PDF.
from carnet.randomization import report_views  # noqa: E402

urlpatterns += [
    path(
        "studies/<str:identifier>/randomisation/report/",
        report_views.report_page,
        name="report",
    ),
    path(
        "studies/<str:identifier>/randomisation/report.pdf",
        report_views.report_pdf_download,
        name="report_pdf",
    ),
]
