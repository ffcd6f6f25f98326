"""Pages of data capture: the casebook and the case report forms (see views.py).

A repeating form's instance is chosen by ``?repeat=N`` (1 when absent) on every form address.

Included at the site root, under the subject's own address.
"""

from django.urls import URLPattern, path

from carnet.capture import views
from carnet.capture.bulk import views as bulk_views

app_name = "capture"
SUBJECT = "studies/<str:identifier>/subjects/<str:subject>/"
FORM = SUBJECT + "forms/<str:event>/<int:occurrence>/<str:form>/"

urlpatterns: list[URLPattern] = [
    path(SUBJECT + "casebook/", views.casebook_page, name="casebook"),
    path(FORM, views.form_page, name="form"),
    path(FORM + "validate/", views.form_validate, name="validate"),
    path(FORM + "rows/<str:group>/new/", views.row_new, name="row_new"),
    path(FORM + "history/<str:item>/", views.item_history_page, name="history"),
    path(FORM + "not-done/", views.form_not_done_page, name="not_done"),
    path(FORM + "reopen/", views.form_reopen_page, name="reopen"),
    path(FORM + "files/<str:item>/", views.file_page, name="file"),
    path("studies/<str:identifier>/imports/", bulk_views.import_page, name="import"),
    path(
        "studies/<str:identifier>/imports/<int:run_id>/progress/",
        bulk_views.import_progress,
        name="import_progress",
    ),
]
