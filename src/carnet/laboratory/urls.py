"""Laboratory pages: the graded listing of a study or a subject, its CSV, the ranges."""

from django.urls import URLPattern, path

from carnet.laboratory import views

app_name = "laboratory"
STUDY = "studies/<str:identifier>/"

urlpatterns: list[URLPattern] = [
    path(STUDY + "laboratory/", views.listing_page, name="listing"),
    path(STUDY + "laboratory.csv", views.listing_csv, name="listing_csv"),
    path(STUDY + "laboratory/ranges/", views.ranges_page, name="ranges"),
    path(
        STUDY + "subjects/<str:subject>/laboratory/",
        views.subject_listing_page,
        name="subject_listing",
    ),
]
