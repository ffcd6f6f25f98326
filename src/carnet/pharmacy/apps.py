from django.apps import AppConfig


class PharmacyConfig(AppConfig):
    name = "carnet.pharmacy"
    verbose_name = "Pharmacy"

    def ready(self) -> None:
        from carnet.pharmacy import assignment

        # Randomisation (a lower layer) assigns the pharmacy's kits through its registry.
        assignment.register()
