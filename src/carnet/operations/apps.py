from django.apps import AppConfig


class OperationsConfig(AppConfig):
    name = "carnet.operations"
    verbose_name = "Operations"
