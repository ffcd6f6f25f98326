"""Pages of the monitoring app: a study's monitoring (plan, SDV progress, visits), a subject's
SDV, the SDV panel beside a form, and a monitoring visit with its report."""

from django.urls import URLPattern, path

from carnet.monitoring import views

app_name = "monitoring"
STUDY = "studies/<str:identifier>/"
SUBJECT = STUDY + "subjects/<str:subject>/"
FORM = SUBJECT + "forms/<str:event>/<int:occurrence>/<str:form>/"

urlpatterns: list[URLPattern] = [
    path(STUDY + "monitoring/", views.monitoring_page, name="monitoring"),
    path(STUDY + "monitoring/plan/", views.plan_page, name="plan"),
    path(STUDY + "monitoring/visits/new/", views.visit_new_action, name="visit_new"),
    path(STUDY + "monitoring/visits/<int:pk>/", views.visit_page, name="visit"),
    path(
        STUDY + "monitoring/visits/<int:pk>/record/", views.visit_update_action, name="visit_update"
    ),
    path(STUDY + "monitoring/visits/<int:pk>/report.pdf", views.visit_pdf, name="visit_pdf"),
    path(SUBJECT + "sdv/", views.subject_page, name="subject"),
    path(SUBJECT + "sdv/verify/", views.verify_action, name="verify"),
    path(FORM + "sdv/", views.form_panel, name="form_panel"),
]
