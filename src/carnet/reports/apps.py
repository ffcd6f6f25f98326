from django.apps import AppConfig


class ReportsConfig(AppConfig):
    name = "carnet.reports"
    verbose_name = "Reports"

    def ready(self) -> None:
        from django.utils.translation import gettext_lazy as _

        from carnet.reports.activity import register_activity_counter
        from carnet.reports.activity_samples import samples_collected

        # The biobank sits below reports: its column is registered from here.
        register_activity_counter("samples", samples_collected, label=_("Samples collected"))
