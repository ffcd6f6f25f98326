"""Pages of oversight: a study's locks, a subject's locks and signatures, the panel beside a
form, the casebooks awaiting signature, and the audit trail (study's and system's)."""

from django.urls import URLPattern, path

from carnet.oversight import views

app_name = "oversight"
STUDY = "studies/<str:identifier>/"
SUBJECT = STUDY + "subjects/<str:subject>/"
FORM = SUBJECT + "forms/<str:event>/<int:occurrence>/<str:form>/"

urlpatterns: list[URLPattern] = [
    path(STUDY + "locks/", views.locks_page, name="locks"),
    path(STUDY + "locks/site/", views.site_lock_action, name="site_lock"),
    path(STUDY + "locks/<int:pk>/unlock/", views.unlock_action, name="unlock"),
    path(SUBJECT + "oversight/", views.subject_page, name="subject"),
    path(SUBJECT + "oversight/lock/", views.lock_action, name="lock"),
    path(SUBJECT + "oversight/sign/", views.sign_action, name="sign"),
    path(FORM + "oversight/", views.form_panel, name="form_panel"),
    path(STUDY + "signatures/awaiting/", views.awaiting_page, name="awaiting"),
    path(STUDY + "audit/", views.trail_page, name="trail"),
    path(STUDY + "audit.csv", views.trail_csv, name="trail_csv"),
    path(STUDY + "audit.pdf", views.trail_pdf, name="trail_pdf"),
    path("administration/audit/", views.administration_trail_page, name="administration_trail"),
]
