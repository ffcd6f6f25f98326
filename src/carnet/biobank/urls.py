"""Pages of the biobank app."""

from django.urls import URLPattern, path

from carnet.biobank import views_exchange

app_name = "biobank"
STUDY = "studies/<str:identifier>/biobank/"
SHIPMENT = STUDY + "shipments/<str:reference>/"

urlpatterns: list[URLPattern] = [
    # --- exchange: shipments, MTAs, requests, withdrawals, LIMS (bio-exchange) ---
    path(STUDY + "exchange/", views_exchange.exchange_page, name="exchange"),
    path(STUDY + "destinations/new/", views_exchange.destination_action, name="destination_new"),
    path(STUDY + "agreements/new/", views_exchange.agreement_action, name="agreement_new"),
    path(STUDY + "shipments/new/", views_exchange.shipment_new_action, name="shipment_new"),
    path(SHIPMENT, views_exchange.shipment_page, name="shipment"),
    path(SHIPMENT + "send/", views_exchange.shipment_send_action, name="shipment_send"),
    path(SHIPMENT + "receive/", views_exchange.shipment_receive_action, name="shipment_receive"),
    path(
        SHIPMENT + "manifest.<str:extension>",
        views_exchange.manifest_download,
        name="manifest",
    ),
    path(STUDY + "requests/new/", views_exchange.request_new_action, name="request_new"),
    path(
        STUDY + "requests/<str:reference>/decide/",
        views_exchange.request_decide_action,
        name="request_decide",
    ),
    path(STUDY + "withdrawals/", views_exchange.withdrawals_page, name="withdrawals"),
    path(STUDY + "lims/", views_exchange.lims_page, name="lims"),
    path(STUDY + "lims/samples-<str:shape>.csv", views_exchange.lims_download, name="lims_export"),
    # --- end of exchange ---
]
