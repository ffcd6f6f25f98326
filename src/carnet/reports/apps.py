from django.apps import AppConfig


class ReportsConfig(AppConfig):
    name = "carnet.reports"
    verbose_name = "Reports"

    def ready(self) -> None:
        from typing import cast

        from django.utils.translation import gettext_lazy as _

        from carnet.reports.activity import register_activity_counter
        from carnet.reports.activity_samples import samples_collected

        # The biobank sits below reports: its column is registered from here.
        # The label stays lazy (translated when a page is drawn); the registry types it as text.
        label = cast(str, _("Samples collected"))
        register_activity_counter("samples", samples_collected, label=label)
