from django.apps import AppConfig


class LaboratoryConfig(AppConfig):
    name = "carnet.laboratory"
    verbose_name = "Laboratory"
