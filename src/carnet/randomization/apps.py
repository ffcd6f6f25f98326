from django.apps import AppConfig


class RandomizationConfig(AppConfig):
    name = "carnet.randomization"
    verbose_name = "Randomisation"
