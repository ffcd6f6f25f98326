from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    name = "carnet.monitoring"
    verbose_name = "Monitoring"

    def ready(self) -> None:
        from carnet.capture.annotations import register_casebook_marks, register_form_marks
        from carnet.capture.seams import register_save_listener, register_save_listener_many
        from carnet.monitoring import marks, services

        # A change of verified data resets its SDV (every entry point, in the save's transaction).
        register_save_listener(services.sdv_reset_on_change)
        register_save_listener_many(services.sdv_reset_on_change, services.sdv_reset_on_change_many)
        # "Verified (SDV)" / "SDV reset" beside the items, the SDV panel, a badge per casebook cell.
        register_form_marks(marks.form_marks)
        register_casebook_marks(marks.casebook_marks)
