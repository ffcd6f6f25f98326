from django.apps import AppConfig


class PharmacyConfig(AppConfig):
    name = "carnet.pharmacy"
    verbose_name = "Pharmacy"

    def ready(self) -> None:
        from carnet.pharmacy import assignment, exports, tasks

        # Randomisation (a lower layer) assigns the pharmacy's kits through its registry.
        assignment.register()
        # Every export carries each patient's exposure (interop knows nothing of the pharmacy).
        exports.register()
        # The worker checks the kit-mode sites' stock each day and proposes the resupplies due.
        tasks.register()
