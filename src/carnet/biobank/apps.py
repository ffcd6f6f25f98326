from django.apps import AppConfig


class BiobankConfig(AppConfig):
    name = "carnet.biobank"
    verbose_name = "Biobank"

    def ready(self) -> None:
        from carnet.biobank import views_collection
        from carnet.biobank.expected import missing_section
        from carnet.capture.annotations import register_occurrence_marks
        from carnet.subjects.overdue_sources import register_overdue_source

        # "Samples 1/2" on each casebook column where the protocol expects samples.
        register_occurrence_marks(views_collection.visit_marks)
        # Samples not recorded at a visit that took place: on the overdue list.
        register_overdue_source(missing_section)
        # Samples leaving in a shipment leave their boxes (moves audited as the sender's).
        from carnet.biobank.shipments import register_send_hook
        from carnet.biobank.storage import shipment_positions_release

        register_send_hook(shipment_positions_release)
