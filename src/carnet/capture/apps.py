from django.apps import AppConfig


class CaptureConfig(AppConfig):
    name = "carnet.capture"
    verbose_name = "Data capture"

    def ready(self) -> None:
        # The migration report of a study amendment counts the values each change touches.
        from carnet.capture import impact, news, registration

        impact.register()
        news.register()
        # Inclusion writes the registration answers the study maps to casebook items.
        registration.register()
