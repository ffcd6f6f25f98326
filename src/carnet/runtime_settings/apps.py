from django.apps import AppConfig


class RuntimeSettingsConfig(AppConfig):
    name = "carnet.runtime_settings"
    verbose_name = "Runtime settings"
