"""Randomisation pages, under their subject."""

from django.urls import path

from carnet.randomization import views

app_name = "randomization"
SUBJECT = "studies/<str:identifier>/subjects/<str:subject>/"

urlpatterns = [
    path(SUBJECT + "randomisation/", views.randomisation_page, name="randomisation"),
]

from carnet.randomization import views_unblinding  # noqa: E402

urlpatterns += [
    path(SUBJECT + "unblinding/", views_unblinding.unblinding_page, name="unblinding"),
]
