from django.apps import AppConfig


class SubjectsConfig(AppConfig):
    name = "carnet.subjects"
    verbose_name = "Subjects"
