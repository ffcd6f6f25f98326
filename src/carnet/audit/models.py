"""The audit trail: append-only events, one hash chain per study and one for the system."""

from django.db import models

GENESIS_HASH = "0" * 64
SYSTEM_CHAIN = "system"


class AuditEvent(models.Model):
    """One change: who, when, what, old and new values, why, chained to the previous event.

    Rows are only ever inserted. On PostgreSQL a trigger refuses UPDATE and DELETE; on every
    database `carnet audit verify` recomputes the chain and finds any edit.
    """

    chain = models.CharField(max_length=120)
    seq = models.PositiveBigIntegerField(help_text="Position in the chain, from 1, without gaps.")
    occurred_at = models.DateTimeField()
    # Not a foreign key: the trail must outlive any reorganisation of the accounts tables,
    # and the label keeps the name the person had when they acted.
    actor_id = models.BigIntegerField(null=True)
    actor_label = models.CharField(max_length=200)
    action = models.CharField(max_length=100)
    target_type = models.CharField(max_length=100, blank=True)
    target_id = models.CharField(max_length=100, blank=True)
    old = models.JSONField(null=True)
    new = models.JSONField(null=True)
    reason = models.TextField(blank=True)
    scheme = models.PositiveSmallIntegerField(help_text="Version of the hashing scheme.")
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["chain", "seq"], name="audit_event_chain_seq_unique"),
        ]
        indexes = [
            models.Index(fields=["target_type", "target_id"], name="audit_event_target_idx"),
            models.Index(fields=["occurred_at"], name="audit_event_time_idx"),
            # The events of some actions of a chain up to a point (an export's subject and
            # visit events, the value changes after a cut-off): without it a read of the
            # 10,000 subject events of a 20-million-event chain scanned the chain (13 s).
            models.Index(fields=["chain", "action", "seq"], name="audit_event_action_idx"),
        ]
        ordering = ["chain", "seq"]

    def __str__(self) -> str:
        return f"{self.chain}#{self.seq} {self.action} by {self.actor_label}"


class ChainHead(models.Model):
    """The last event of a chain, so that removing events from the end is noticed.

    Writers lock this row to append, which also keeps concurrent writers from forking a chain.
    On PostgreSQL a trigger lets it only move forward, to events that continue the chain.
    """

    chain = models.CharField(max_length=120, primary_key=True)
    seq = models.PositiveBigIntegerField(default=0)
    hash = models.CharField(max_length=64, default=GENESIS_HASH)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.chain} head #{self.seq}"
