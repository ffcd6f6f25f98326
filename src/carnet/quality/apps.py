from django.apps import AppConfig


class QualityConfig(AppConfig):
    name = "carnet.quality"
    verbose_name = "Data quality"
