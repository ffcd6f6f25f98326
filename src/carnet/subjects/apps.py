from django.apps import AppConfig


class SubjectsConfig(AppConfig):
    name = "carnet.subjects"
    verbose_name = "Subjects"

    def ready(self) -> None:
        # `carnet audit verify` counts what the audit chains must record.
        from carnet.subjects import census, tasks

        census.register()
        # The worker refreshes stale schedules and sends the daily overdue digest.
        tasks.register()
