"""Settings an administrator changes while Carnet runs (the environment holds the rest)."""

from django.db import models


class SystemSetting(models.Model):
    """One runtime setting; its definition (type, bounds, default) lives in `services`."""

    key = models.CharField(max_length=100, primary_key=True)
    value = models.JSONField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        # The table was created by the `operations` app before this one existed; keeping its
        # name lets existing databases move here without copying a row.
        db_table = "operations_systemsetting"

    def __str__(self) -> str:
        return f"{self.key} = {self.value!r}"
