from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "carnet.audit"
    verbose_name = "Audit trail"
