"""Pages of the biobank app."""

from django.urls import URLPattern, path

from carnet.biobank import views_storage

app_name = "biobank"
STORAGE = "studies/<str:identifier>/biobank/storage/"

urlpatterns: list[URLPattern] = []

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
