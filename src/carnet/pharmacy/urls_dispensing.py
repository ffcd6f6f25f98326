"""Pages of dispensing, accountability and resupply (included by the pharmacy's urls)."""

from django.urls import URLPattern, path

from carnet.pharmacy import views_dispensing as views

STUDY = "studies/<str:identifier>/pharmacy/"

urlpatterns: list[URLPattern] = [
    path(STUDY + "dispensing/", views.dispensing_page, name="dispensing"),
    path(STUDY + "accountability/", views.accountability_page, name="accountability"),
    path(STUDY + "accountability.pdf", views.accountability_pdf, name="accountability_pdf"),
    path(STUDY + "resupply/", views.resupply_page, name="resupply"),
]
