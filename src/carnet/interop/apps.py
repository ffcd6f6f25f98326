from django.apps import AppConfig


class InteropConfig(AppConfig):
    name = "carnet.interop"
    verbose_name = "Interoperability"

    def ready(self) -> None:
        from carnet.interop.odm.study_import import odm_study_file_import
        from carnet.studies.management.commands.study import register_study_file_importer

        # `carnet study import-odm`: studies reads ODM files through interop, imports none of it.
        register_study_file_importer("odm", odm_study_file_import)
