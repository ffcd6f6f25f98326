"""Pages of the database lock: the study's checklist, signatures and unlock."""

from django.urls import URLPattern, path

from carnet.database_lock import views

app_name = "database_lock"
STUDY = "studies/<str:identifier>/database-lock/"

urlpatterns: list[URLPattern] = [
    path(STUDY, views.lock_page, name="page"),
    path(STUDY + "waive/", views.waive_action, name="waive"),
    path(STUDY + "sign/", views.sign_action, name="sign"),
    path(STUDY + "unlock/", views.unlock_action, name="unlock"),
    path(STUDY + "unblind/", views.unblind_action, name="unblind"),
    path(STUDY + "<int:number>/archive/", views.archive_download, name="archive"),
    path(STUDY + "<int:number>/archive.sha256", views.archive_checksums, name="checksums"),
]
