from django.apps import AppConfig


class QualityConfig(AppConfig):
    name = "carnet.quality"
    verbose_name = "Data quality"

    def ready(self) -> None:
        from carnet.capture.seams import register_save_listener
        from carnet.quality import tasks
        from carnet.quality.automatic import queries_follow_checks

        # Soft checks that fire open automatic queries; corrections close them.
        register_save_listener(queries_follow_checks)
        # The worker writes the optional daily digest of open queries.
        tasks.register()
