"""Quality pages."""

from django.urls import URLPattern, path

from carnet.quality import views_deviations

app_name = "quality"

urlpatterns: list[URLPattern] = []

# Protocol deviations.
STUDY = "studies/<str:identifier>/"
urlpatterns += [
    path(STUDY + "deviations/", views_deviations.deviation_register_page, name="deviations"),
    path(STUDY + "deviations.csv", views_deviations.deviation_register_csv, name="deviations_csv"),
    path(STUDY + "deviations/<int:number>/", views_deviations.deviation_page, name="deviation"),
    path(
        STUDY + "subjects/<str:subject>/deviations/",
        views_deviations.subject_deviations_page,
        name="subject_deviations",
    ),
]
