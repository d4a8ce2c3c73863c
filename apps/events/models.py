"""The event fabric's tables in each tenant schema.

The transactional outbox (what this tenant publishes) and the consumer dedupe record (what
this tenant's consumers already applied). Their table names predate this app (they were
the catalog's) and stay, so existing tenant schemas keep their rows.
"""

from __future__ import annotations

from django.db import models


class OutboxMessage(models.Model):
    """An encoded event waiting to be sent; written in the same transaction as its cause."""

    event_id = models.UUIDField(unique=True)
    topic = models.CharField(max_length=249)
    key = models.CharField(max_length=255)
    value = models.BinaryField()  # the Confluent wire-format bytes, ready to send
    headers = models.JSONField(default=list)  # [[name, value], ...]; value is text
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")

    class Meta:
        db_table = "event_outbox"
        indexes = [
            # The relay reads only unsent rows, oldest first.
            models.Index(fields=["id"], name="outbox_pending_idx",
                         condition=models.Q(sent_at__isnull=True)),
        ]

    def __str__(self) -> str:
        return f"{self.topic} {self.key} {self.event_id}"


class ProcessedEvent(models.Model):
    """An event a consumer group has applied; makes redelivery have no second effect."""

    consumer_group = models.CharField(max_length=200)
    event_id = models.UUIDField()
    topic = models.CharField(max_length=249)
    partition = models.IntegerField()
    offset = models.BigIntegerField()
    processed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "event_processed"
        constraints = [
            models.UniqueConstraint(fields=["consumer_group", "event_id"],
                                    name="processed_once_per_group"),
        ]

    def __str__(self) -> str:
        return f"{self.consumer_group} {self.event_id}"
