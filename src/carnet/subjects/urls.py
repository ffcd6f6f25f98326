"""Subjects pages, under their study."""

from django.urls import path

from carnet.subjects import views

app_name = "subjects"
STUDY = "studies/<str:identifier>/"
SUBJECT = STUDY + "subjects/<str:subject>/"

urlpatterns = [
    path(STUDY + "subjects/", views.subject_list_page, name="subject_list"),
    # Before the subject's page: "new" is not a subject (identifiers always hold a number).
    path(STUDY + "subjects/new/", views.subject_new_page, name="subject_new"),
    path(SUBJECT, views.subject_page, name="subject"),
    path(SUBJECT + "eligibility-review/", views.review_page, name="eligibility_review"),
    path(SUBJECT + "consents/", views.consent_page, name="consent"),
    path(SUBJECT + "withdrawals/", views.withdrawal_page, name="withdrawal"),
    path(SUBJECT + "study-status/", views.study_status_page, name="study_status"),
    path(SUBJECT + "treatment-status/", views.treatment_status_page, name="treatment_status"),
    path(SUBJECT + "visits/", views.visit_page, name="visit"),
    path(SUBJECT + "news/", views.news_page, name="news"),
    path(SUBJECT + "transfer/", views.transfer_page, name="transfer"),
    path(SUBJECT + "identity/", views.identity_page, name="identity"),
    path(STUDY + "test-view/", views.test_view_page, name="test_view"),
    path(STUDY + "screening-log/", views.screening_log_page, name="screening_log"),
    path(STUDY + "overdue/", views.overdue_page, name="overdue"),
    path(STUDY + "follow-up-campaign/", views.follow_up_campaign_page, name="follow_up_campaign"),
]
