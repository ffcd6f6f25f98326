from django.apps import AppConfig


class CaptureConfig(AppConfig):
    name = "carnet.capture"
    verbose_name = "Data capture"

    def ready(self) -> None:
        # The migration report of a study amendment counts the values each change touches.
        # `carnet audit verify` counts the data the study chains must record.
        from carnet.capture import census, impact, news

        census.register()
        impact.register()
        news.register()
