from django.apps import AppConfig


class InteropConfig(AppConfig):
    name = "carnet.interop"
    verbose_name = "Interoperability"
