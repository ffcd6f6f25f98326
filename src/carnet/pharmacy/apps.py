from django.apps import AppConfig


class PharmacyConfig(AppConfig):
    name = "carnet.pharmacy"
    verbose_name = "Pharmacy"
