"""Named data cut-offs: a point in a study's audit chain from which exports are rebuilt."""

from __future__ import annotations

from django.db import models


class Cutoff(models.Model):
    """A named point of a study's audit chain (sequence number and the head's hash there).

    Every export names the cut-off it was made from; the values are rebuilt from the audit
    events up to ``seq``, so the same export made later from the same cut-off is the same file.
    """

    study = models.ForeignKey("studies.Study", on_delete=models.PROTECT, related_name="+")
    name = models.CharField(max_length=64)
    seq = models.PositiveBigIntegerField(help_text="Last audit event of the study's chain kept.")
    head_hash = models.CharField(max_length=64, help_text="Hash of that event (the chain head).")
    cut_on = models.DateField(help_text="The data cut-off date the protocol names.")
    reason = models.TextField()
    created_by = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["study", "name"], name="cutoff_study_name_unique")
        ]
        ordering = ["study", "seq", "name"]

    def __str__(self) -> str:
        return f"{self.name} (#{self.seq})"


from carnet.interop.documents_models import ArchiveStatus, CasebookArchive  # noqa: E402, F401 (casebook archives)
