"""Pages of the pharmacy app: a study's pharmacy per site, a shipment and its receipt, and
temperature excursions."""

from django.urls import URLPattern, path

from carnet.pharmacy import views, views_dispensing

app_name = "pharmacy"
STUDY = "studies/<str:identifier>/pharmacy/"
SHIPMENT = STUDY + "shipments/<str:number>/"

urlpatterns: list[URLPattern] = [
    path(STUDY, views.pharmacy_page, name="pharmacy"),
    path(STUDY + "shipments/new/", views.shipment_new_action, name="shipment_new"),
    path(SHIPMENT, views.shipment_page, name="shipment"),
    path(SHIPMENT + "send/", views.shipment_send_action, name="shipment_send"),
    path(SHIPMENT + "receipt/", views.shipment_receive_action, name="shipment_receive"),
    path(SHIPMENT + "close/", views.shipment_close_action, name="shipment_close"),
    path(STUDY + "excursions/new/", views.excursion_new_page, name="excursion_new"),
    path(STUDY + "excursions/<int:pk>/", views.excursion_page, name="excursion"),
    path(
        STUDY + "excursions/<int:pk>/decide/",
        views.excursion_decide_action,
        name="excursion_decide",
    ),
    # Dispensing, accountability and resupply (views_dispensing).
    path(STUDY + "dispensing/", views_dispensing.dispensing_page, name="dispensing"),
    path(STUDY + "accountability/", views_dispensing.accountability_page, name="accountability"),
    path(
        STUDY + "accountability.pdf",
        views_dispensing.accountability_pdf,
        name="accountability_pdf",
    ),
    path(STUDY + "resupply/", views_dispensing.resupply_page, name="resupply"),
]

# The pages of dispensing, accountability and resupply (their own page matrix tests them).
DISPENSING_PAGES = frozenset({"dispensing", "accountability", "accountability_pdf", "resupply"})
