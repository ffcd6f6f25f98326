"""Study pages (see views.py)."""

from django.urls import path

from carnet.studies import views

app_name = "studies"
urlpatterns = [
    path("studies/", views.study_switch, name="switch"),
    path("studies/<str:identifier>/", views.study_page, name="study"),
    path(
        "studies/<str:identifier>/versions/<int:number>/",
        views.study_version_page,
        name="version",
    ),
    path("studies/<str:identifier>/publish/", views.study_publish_page, name="publish"),
]
