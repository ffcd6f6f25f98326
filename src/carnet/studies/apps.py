from django.apps import AppConfig


class StudiesConfig(AppConfig):
    name = "carnet.studies"
    verbose_name = "Studies"

    def ready(self) -> None:
        # `carnet audit verify` counts what the audit chains must record.
        from carnet.studies import census

        census.register()
