from django.apps import AppConfig


class QualityConfig(AppConfig):
    name = "carnet.quality"
    verbose_name = "Data quality"

    def ready(self) -> None:
        from carnet.quality.deviations import register_deviations

        # A check marked as a deviation records one in the register (a listener of capture's
        # writes: capture knows nothing of it).
        register_deviations()
