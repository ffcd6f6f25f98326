"""Quality pages: a study's queries, one query, and the query drawer beside a form."""

from django.urls import URLPattern, path

from carnet.quality import recheck_views, views, views_deviations

app_name = "quality"
STUDY = "studies/<str:identifier>/"
FORM = STUDY + "subjects/<str:subject>/forms/<str:event>/<int:occurrence>/<str:form>/"

urlpatterns: list[URLPattern] = [
    path(STUDY + "queries/", views.query_list_page, name="queries"),
    path(STUDY + "queries/export.csv", views.query_export, name="export"),
    path(STUDY + "queries/settings/", views.settings_page, name="settings"),
    path(STUDY + "queries/<int:pk>/", views.query_page, name="query"),
    path(STUDY + "queries/<int:pk>/<str:action>/", views.query_action, name="action"),
    path(FORM + "queries/", views.drawer_page, name="drawer"),
    path(STUDY + "workspace/", views.workspace_page, name="workspace"),
    path(FORM + "data-review/", views.data_review_page, name="data_review"),
    # Protocol deviations.
    path(STUDY + "deviations/", views_deviations.deviation_register_page, name="deviations"),
    path(STUDY + "deviations.csv", views_deviations.deviation_register_csv, name="deviations_csv"),
    path(STUDY + "deviations/<int:number>/", views_deviations.deviation_page, name="deviation"),
    path(
        STUDY + "subjects/<str:subject>/deviations/",
        views_deviations.subject_deviations_page,
        name="subject_deviations",
    ),
    # Whole-study re-checks: the page with its button, and a run's progress bar.
    path(STUDY + "checks/rechecks/", recheck_views.rechecks_page, name="rechecks"),
    path(
        STUDY + "checks/rechecks/<int:run_id>/progress/",
        recheck_views.recheck_progress,
        name="recheck_progress",
    ),
]
