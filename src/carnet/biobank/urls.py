"""Pages of the biobank app."""

from django.urls import URLPattern, path

from carnet.biobank import views_collection

app_name = "biobank"
STUDY = "studies/<str:identifier>/"

urlpatterns: list[URLPattern] = [
    # Collection and pre-analytics (views_collection).
    path(STUDY + "samples/", views_collection.samples_page, name="samples"),
    path(STUDY + "samples/missing/", views_collection.missing_page, name="missing"),
    path(
        STUDY + "subjects/<str:subject>/samples/",
        views_collection.subject_samples_page,
        name="subject_samples",
    ),
    path(
        STUDY + "subjects/<str:subject>/samples/collect/",
        views_collection.collect_action,
        name="collect",
    ),
    path(STUDY + "samples/<str:sample>/", views_collection.sample_page, name="sample"),
    path(STUDY + "samples/<str:sample>/process/", views_collection.process_action, name="process"),
]
