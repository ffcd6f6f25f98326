from django.apps import AppConfig


class MessagingConfig(AppConfig):
    name = "carnet.messaging"
    verbose_name = "Messages"

    def ready(self) -> None:
        from carnet.messaging import serious_events, tasks

        # The worker sends what the outbox holds, and says in --status what waits.
        tasks.register()
        # A save that makes an adverse event serious writes to pharmacovigilance and the site's
        # investigators (capture knows nothing of it: a listener of its writes).
        serious_events.register()
