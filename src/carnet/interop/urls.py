"""Interop pages: a study's cut-offs and exports."""

from django.urls import path

from carnet.interop import views, views_documents, views_odm

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
    # Documents for the trial master file (views_documents.py).
    path("studies/<str:identifier>/documents/", views_documents.documents_page, name="documents"),
    path(
        "studies/<str:identifier>/documents/crf-<str:kind>.<str:file_format>",
        views_documents.crf_document,
        name="crf",
    ),
    path(
        "studies/<str:identifier>/subjects/<str:subject>/casebook.pdf",
        views_documents.casebook_pdf_download,
        name="casebook_pdf",
    ),
    path(
        "studies/<str:identifier>/documents/sites/<str:site>/archive/",
        views_documents.archive_request,
        name="archive_request",
    ),
    path(
        "studies/<str:identifier>/documents/archives/<int:run_id>/progress/",
        views_documents.archive_progress,
        name="archive_progress",
    ),
    path(
        "studies/<str:identifier>/documents/archives/<int:run_id>/download/",
        views_documents.archive_download,
        name="archive_download",
    ),
    # ODM 1.3.2 imports: clinical data into the study, metadata as a study file (views_odm.py).
    path("studies/<str:identifier>/odm/import/", views_odm.odm_import_page, name="odm_import"),
]
