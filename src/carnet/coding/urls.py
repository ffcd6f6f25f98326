"""Pages of the coding app: the dictionaries, the coder's queue, a term, recoding."""

from django.urls import URLPattern, path

from carnet.coding import views

app_name = "coding"
STUDY = "studies/<str:identifier>/"

urlpatterns: list[URLPattern] = [
    path("coding/dictionaries/", views.dictionaries_page, name="dictionaries"),
    path(STUDY + "coding/", views.queue_page, name="queue"),
    path(STUDY + "coding/terms/<int:pk>/", views.term_page, name="term"),
    path(STUDY + "coding/terms/<int:pk>/code/", views.code_action, name="code"),
    path(STUDY + "coding/terms/<int:pk>/query/", views.query_action, name="query"),
    path(STUDY + "coding/recode/", views.recode_page, name="recode"),
]
