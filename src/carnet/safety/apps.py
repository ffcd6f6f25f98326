from django.apps import AppConfig


class SafetyConfig(AppConfig):
    name = "carnet.safety"
    verbose_name = "Safety"

    def ready(self) -> None:
        from carnet.safety import census, serious_events, special_interest, tasks

        # A save that makes an adverse event serious writes to pharmacovigilance and the site's
        # investigators (capture knows nothing of it: a listener of its writes).
        serious_events.register()
        # Adverse events of special interest and pregnancies open their own reports.
        special_interest.register()
        # Reminders of the SUSAR and 24-hour clocks before they fall (the worker runs them).
        tasks.register()
        # SAE reports exist only with their audit events (checked by `carnet audit verify`).
        census.register()
