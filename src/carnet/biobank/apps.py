from django.apps import AppConfig


class BiobankConfig(AppConfig):
    name = "carnet.biobank"
    verbose_name = "Biobank"
