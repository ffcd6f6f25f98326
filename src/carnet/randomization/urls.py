"""Randomisation pages: a subject's step and emergency unblinding, the study's report."""

from django.urls import path

from carnet.randomization import report_views, views, views_outage, views_unblinding

app_name = "randomization"
SUBJECT = "studies/<str:identifier>/subjects/<str:subject>/"

urlpatterns = [
    path(SUBJECT + "randomisation/", views.randomisation_page, name="randomisation"),
    path(SUBJECT + "unblinding/", views_unblinding.unblinding_page, name="unblinding"),
    path(
        SUBJECT + "pharmacovigilance-unblinding/",
        views_unblinding.pharmacovigilance_unblinding_page,
        name="pharmacovigilance_unblinding",
    ),
    # The outage procedure: a paper allocation recorded afterwards, the reconciliation, the
    # sealed envelopes' PDF (unblinded roles only).
    path(SUBJECT + "randomisation/paper/", views_outage.paper_page, name="paper"),
    path(
        "studies/<str:identifier>/randomisation/outage/",
        views_outage.outage_page,
        name="outage",
    ),
    path(
        "studies/<str:identifier>/randomisation/envelopes/<str:site>.pdf",
        views_outage.envelopes_pdf_download,
        name="envelopes_pdf",
    ),
    # The randomisation report (proof for the trial master file): page and PDF.
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
