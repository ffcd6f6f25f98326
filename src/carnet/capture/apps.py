from django.apps import AppConfig


class CaptureConfig(AppConfig):
    name = "carnet.capture"
    verbose_name = "Data capture"

    def ready(self) -> None:
        from carnet.capture import census, impact, modes, news, registration

        # `carnet audit verify` counts the data the study chains must record.
        census.register()
        # The migration report of a study amendment counts the values each change touches.
        impact.register()
        # The save pipeline's own guard and listener (capture/seams.py): the study's mode
        # decides whether data may change; captured dates are news of the subject.
        modes.register()
        news.register()
        # Inclusion writes the registration answers the study maps to casebook items.
        registration.register()
