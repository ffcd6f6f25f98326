from django.apps import AppConfig


class CodingConfig(AppConfig):
    name = "carnet.coding"
    verbose_name = "Coding"
