from django.apps import AppConfig


class OversightConfig(AppConfig):
    name = "carnet.oversight"
    verbose_name = "Oversight"

    def ready(self) -> None:
        from carnet.audit.replay import register_data_replay, register_trail_writer
        from carnet.capture.annotations import register_casebook_marks, register_form_marks
        from carnet.capture.seams import register_save_guard, register_save_listener
        from carnet.oversight import marks, replay, services, trail

        # A lock in force refuses every write of the data it covers (page, API, not-done,
        # reopen, uploads, imports); a change of signed data needs a reason and voids it.
        register_save_guard(services.locked_data_refuses)
        register_save_listener(services.signatures_void_on_change)
        # An import asks once whether any lock or signature may be concerned.
        from carnet.capture.seams import register_save_guard_needed, register_save_listener_many

        register_save_guard_needed(services.locked_data_refuses, services.locks_may_refuse)
        register_save_listener_many(
            services.signatures_void_on_change, services.signatures_void_on_change_many
        )
        # Lock and signature badges on the form and the casebook, and their panel.
        register_form_marks(marks.form_marks)
        register_casebook_marks(marks.casebook_marks)
        # `carnet audit verify --data STUDY` rebuilds the values from the trail through us.
        register_data_replay(replay.data_replay)
        # `carnet audit trail STUDY --output FILE` writes the filtered trail through us.
        register_trail_writer(trail.trail_file)
