from django.apps import AppConfig


class QualityConfig(AppConfig):
    name = "carnet.quality"
    verbose_name = "Data quality"

    def ready(self) -> None:
        from carnet.quality.deviations import register_deviations

        # A check marked as a deviation records one in the register (a listener of capture's
        # writes: capture knows nothing of it).
        register_deviations()
        from carnet.capture.annotations import register_casebook_marks, register_form_marks
        from carnet.capture.seams import register_save_listener, register_save_listener_many
        from carnet.quality import marks, tasks
        from carnet.quality.automatic import queries_follow_checks, queries_follow_checks_many

        # Soft checks that fire open automatic queries; corrections close them (an import's
        # wave at once).
        register_save_listener(queries_follow_checks)
        register_save_listener_many(queries_follow_checks, queries_follow_checks_many)
        # Badges on the form and the casebook; the query drawer beside the form.
        register_form_marks(marks.form_marks)
        register_casebook_marks(marks.casebook_marks)
        # The worker writes the optional daily digest of open queries.
        tasks.register()
