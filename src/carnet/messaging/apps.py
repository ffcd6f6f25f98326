from django.apps import AppConfig


class MessagingConfig(AppConfig):
    name = "carnet.messaging"
    verbose_name = "Messages"

    def ready(self) -> None:
        from carnet.messaging import tasks

        # The worker sends what the outbox holds, and says in --status what waits.
        tasks.register()
