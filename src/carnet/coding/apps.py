from django.apps import AppConfig


class CodingConfig(AppConfig):
    name = "carnet.coding"
    verbose_name = "Coding"

    def ready(self) -> None:
        from carnet.capture.seams import register_save_listener, register_save_listener_many
        from carnet.coding import exports, services

        # A save of a verbatim codes it at once when it matches the dictionary exactly.
        register_save_listener(services.autocode)
        register_save_listener_many(services.autocode, services.autocode_many)
        # Every export carries the coded terms (interop knows nothing of coding).
        exports.register()
