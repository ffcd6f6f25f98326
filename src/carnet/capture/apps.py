from django.apps import AppConfig


class CaptureConfig(AppConfig):
    name = "carnet.capture"
    verbose_name = "Data capture"

    def ready(self) -> None:
        # The migration report of a study amendment counts the values each change touches.
        from carnet.capture import impact, news

        impact.register()
        news.register()
