from django.apps import AppConfig


class RedcapConfig(AppConfig):
    name = "carnet.redcap"
    verbose_name = "Redcap"
