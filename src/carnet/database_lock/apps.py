from django.apps import AppConfig


class DatabaseLockConfig(AppConfig):
    name = "carnet.database_lock"
    verbose_name = "Database lock"
