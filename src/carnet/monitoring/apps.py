from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    name = "carnet.monitoring"
    verbose_name = "Monitoring"
