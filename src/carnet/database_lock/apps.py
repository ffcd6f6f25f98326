from django.apps import AppConfig


class DatabaseLockConfig(AppConfig):
    name = "carnet.database_lock"
    verbose_name = "Database lock"

    def ready(self) -> None:
        from carnet.capture.seams import register_save_guard, register_save_guard_needed
        from carnet.database_lock import checklist, services
        from carnet.randomization.study_unblinding import register_study_unblinding_check

        # The checklist's items (other capabilities add theirs with one line each).
        checklist.register_items()
        # A locked database refuses every write of the study's captured data (423).
        register_save_guard(services.study_locked_refuses)
        # An import asks once whether the study is locked, not once per form.
        register_save_guard_needed(services.study_locked_refuses, services.study_lock_in_force)
        # The study is unblinded only once its database is locked.
        register_study_unblinding_check(services.study_unblinding_refusal)
