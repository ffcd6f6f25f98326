from django.apps import AppConfig


class RandomizationConfig(AppConfig):
    name = "carnet.randomization"
    verbose_name = "Randomisation"

    def ready(self) -> None:
        from carnet.randomization import factor_changes

        # A later change to a factor used at allocation is flagged to the data managers
        # (capture knows nothing of it: a listener of its writes).
        factor_changes.register()
