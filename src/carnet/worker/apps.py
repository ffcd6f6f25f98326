from django.apps import AppConfig


class WorkerConfig(AppConfig):
    name = "carnet.worker"
    verbose_name = "Background work"

    def ready(self) -> None:
        from carnet.worker import tasks

        tasks.register()
