"""Quality pages: a study's queries, one query, and the query drawer beside a form."""

from django.urls import URLPattern, path

from carnet.quality import views

app_name = "quality"
STUDY = "studies/<str:identifier>/"
FORM = STUDY + "subjects/<str:subject>/forms/<str:event>/<int:occurrence>/<str:form>/"

urlpatterns: list[URLPattern] = [
    path(STUDY + "queries/", views.query_list_page, name="queries"),
    path(STUDY + "queries/export.csv", views.query_export, name="export"),
    path(STUDY + "queries/<int:pk>/", views.query_page, name="query"),
    path(STUDY + "queries/<int:pk>/<str:action>/", views.query_action, name="action"),
    path(FORM + "queries/", views.drawer_page, name="drawer"),
    path(STUDY + "workspace/", views.workspace_page, name="workspace"),
    path(FORM + "data-review/", views.data_review_page, name="data_review"),
]
