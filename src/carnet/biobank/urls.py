"""Pages of the biobank app."""

from django.urls import URLPattern, path

from carnet.biobank import views_collection, views_exchange, views_storage

app_name = "biobank"
STUDY = "studies/<str:identifier>/"
BIOBANK = STUDY + "biobank/"
SHIPMENT = BIOBANK + "shipments/<str:reference>/"
STORAGE = "studies/<str:identifier>/biobank/storage/"

urlpatterns: list[URLPattern] = [
    # Collection and pre-analytics (views_collection).
    path(STUDY + "samples/", views_collection.samples_page, name="samples"),
    path(STUDY + "samples/missing/", views_collection.missing_page, name="missing"),
    path(
        STUDY + "subjects/<str:subject>/samples/",
        views_collection.subject_samples_page,
        name="subject_samples",
    ),
    path(
        STUDY + "subjects/<str:subject>/samples/collect/",
        views_collection.collect_action,
        name="collect",
    ),
    path(STUDY + "samples/<str:sample>/", views_collection.sample_page, name="sample"),
    path(STUDY + "samples/<str:sample>/process/", views_collection.process_action, name="process"),
    # --- exchange: shipments, MTAs, requests, withdrawals, LIMS (bio-exchange) ---
    path(BIOBANK + "exchange/", views_exchange.exchange_page, name="exchange"),
    path(BIOBANK + "destinations/new/", views_exchange.destination_action, name="destination_new"),
    path(BIOBANK + "agreements/new/", views_exchange.agreement_action, name="agreement_new"),
    path(BIOBANK + "shipments/new/", views_exchange.shipment_new_action, name="shipment_new"),
    path(SHIPMENT, views_exchange.shipment_page, name="shipment"),
    path(SHIPMENT + "send/", views_exchange.shipment_send_action, name="shipment_send"),
    path(SHIPMENT + "receive/", views_exchange.shipment_receive_action, name="shipment_receive"),
    path(
        SHIPMENT + "manifest.<str:extension>",
        views_exchange.manifest_download,
        name="manifest",
    ),
    path(BIOBANK + "requests/new/", views_exchange.request_new_action, name="request_new"),
    path(
        BIOBANK + "requests/<str:reference>/decide/",
        views_exchange.request_decide_action,
        name="request_decide",
    ),
    path(BIOBANK + "withdrawals/", views_exchange.withdrawals_page, name="withdrawals"),
    path(BIOBANK + "lims/", views_exchange.lims_page, name="lims"),
    path(
        BIOBANK + "lims/samples-<str:shape>.csv", views_exchange.lims_download, name="lims_export"
    ),
    # --- end of exchange ---
]

# Storage, labels and aliquots (biobank.views_storage).
urlpatterns += [
    path(STORAGE, views_storage.storage_page, name="storage"),
    path("studies/<str:identifier>/biobank/scan/", views_storage.scan_page, name="scan"),
    path(STORAGE + "freezers/new/", views_storage.freezer_new_action, name="freezer_new"),
    path(STORAGE + "freezers/<int:pk>/", views_storage.freezer_page, name="freezer"),
    path(STORAGE + "freezers/<int:pk>/racks/new/", views_storage.rack_new_action, name="rack_new"),
    path(STORAGE + "freezers/<int:pk>/failure/", views_storage.failure_action, name="failure"),
    path(STORAGE + "racks/<int:pk>/boxes/new/", views_storage.box_new_action, name="box_new"),
    path(STORAGE + "boxes/<int:pk>/", views_storage.box_page, name="box"),
    path(STORAGE + "samples/<str:sample>/", views_storage.sample_page, name="sample_storage"),
    path(
        STORAGE + "samples/<str:sample>/labels.pdf",
        views_storage.sample_labels,
        name="sample_labels",
    ),
    path(
        STORAGE + "samples/<str:sample>/<str:action>/",
        views_storage.sample_action,
        name="sample_action",
    ),
]
