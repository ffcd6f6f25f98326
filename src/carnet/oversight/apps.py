from django.apps import AppConfig


class OversightConfig(AppConfig):
    name = "carnet.oversight"
    verbose_name = "Oversight"
