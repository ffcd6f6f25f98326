from django.apps import AppConfig


class StudiesConfig(AppConfig):
    name = "carnet.studies"
    verbose_name = "Studies"
