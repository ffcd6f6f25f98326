"""Quality pages."""

from django.urls import URLPattern, path

from carnet.quality import recheck_views

app_name = "quality"

urlpatterns: list[URLPattern] = [
    # Whole-study re-checks: the page with its button, and a run's progress bar.
    path(
        "studies/<str:identifier>/checks/rechecks/",
        recheck_views.rechecks_page,
        name="rechecks",
    ),
    path(
        "studies/<str:identifier>/checks/rechecks/<int:run_id>/progress/",
        recheck_views.recheck_progress,
        name="recheck_progress",
    ),
]
