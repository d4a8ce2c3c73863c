"""Catalog tables in each tenant schema.

The event fabric's tables (the outbox and the consumers' dedupe record) belong to
``apps.events``; the catalog reaches them only through ``apps.events.services``.
"""

from __future__ import annotations

from django.db import models


class EntityCatalog(models.Model):
    """The registry: one row per entity any source owns, with its last known canonical record.

    Versions only move forward: a change event older than the stored version is ignored,
    so out-of-order delivery cannot roll an entity back.
    """

    entity_type = models.CharField(max_length=100)
    entity_id = models.CharField(max_length=255)
    source_system = models.CharField(max_length=100)
    adapter = models.CharField(max_length=100, blank=True, default="")
    version = models.BigIntegerField()
    attributes = models.JSONField(default=dict)
    is_deleted = models.BooleanField(default=False)
    source_updated_at = models.DateTimeField(null=True, blank=True)
    first_seen_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "entity_catalog"
        verbose_name = "entity"
        verbose_name_plural = "entities"
        constraints = [
            models.UniqueConstraint(fields=["entity_type", "entity_id"], name="entity_identity"),
        ]
        indexes = [
            models.Index(fields=["entity_type"], name="idx_entity_type"),
            models.Index(fields=["source_system"], name="idx_source_system"),
            models.Index(fields=["-updated_at"], name="idx_entity_recent"),
        ]

    def __str__(self) -> str:
        return f"{self.entity_type}:{self.entity_id}"


class RelationshipOrigin(models.TextChoices):
    DERIVED = "derived", "derived from a change event"
    MANUAL = "manual", "added by a curator"


class EntityRelationship(models.Model):
    """An edge of the cross-system graph: subject --relationship_type--> object.

    Ends are (type, id) pairs, not foreign keys: an edge may name an entity the catalog has
    not seen yet; it resolves when that entity arrives.
    """

    subject_entity_type = models.CharField(max_length=100)
    subject_entity_id = models.CharField(max_length=255)
    relationship_type = models.CharField(max_length=100)
    object_entity_type = models.CharField(max_length=100)
    object_entity_id = models.CharField(max_length=255)
    origin = models.CharField(max_length=20, choices=RelationshipOrigin.choices,
                              default=RelationshipOrigin.DERIVED)
    source_system = models.CharField(max_length=100, blank=True, default="")
    created_by = models.CharField(max_length=150, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    retired_at = models.DateTimeField(null=True, blank=True)
    retired_by = models.CharField(max_length=150, blank=True, default="")

    class Meta:
        db_table = "entity_relationships"
        constraints = [
            models.UniqueConstraint(
                fields=["subject_entity_type", "subject_entity_id", "relationship_type",
                        "object_entity_type", "object_entity_id"],
                condition=models.Q(retired_at__isnull=True),
                name="one_active_edge",
            ),
        ]
        indexes = [
            # Graph traversal, outgoing and incoming: the recursive step looks edges up by
            # one end and reads the other, so both ends and the type are in the index.
            models.Index(fields=["subject_entity_type", "subject_entity_id",
                                 "relationship_type", "object_entity_type", "object_entity_id"],
                         name="idx_subject", condition=models.Q(retired_at__isnull=True)),
            models.Index(fields=["object_entity_type", "object_entity_id",
                                 "relationship_type", "subject_entity_type", "subject_entity_id"],
                         name="idx_object", condition=models.Q(retired_at__isnull=True)),
        ]

    def __str__(self) -> str:
        return (f"{self.subject_entity_type}:{self.subject_entity_id} "
                f"-{self.relationship_type}-> {self.object_entity_type}:{self.object_entity_id}")


class EventLog(models.Model):
    """The immutable audit trail of every change event the catalog applied.

    A trigger rejects UPDATE, DELETE and TRUNCATE; only the retention job, which sets
    `dictamesh.event_log_retention` for its own transaction, may delete old rows.
    """

    event_id = models.UUIDField(unique=True)
    event_type = models.CharField(max_length=50)
    entity_type = models.CharField(max_length=100)
    entity_id = models.CharField(max_length=255)
    entity_version = models.BigIntegerField()
    source_system = models.CharField(max_length=100)
    changed_fields = models.JSONField(default=list)
    payload = models.JSONField(null=True, blank=True)
    event_timestamp = models.DateTimeField()
    recorded_at = models.DateTimeField(auto_now_add=True)
    topic = models.CharField(max_length=249, blank=True, default="")
    partition = models.IntegerField(null=True, blank=True)
    offset = models.BigIntegerField(null=True, blank=True)
    trace_id = models.CharField(max_length=32, blank=True, default="")

    class Meta:
        db_table = "event_log"
        indexes = [
            models.Index(fields=["-event_timestamp"], name="idx_event_timeline"),
            models.Index(fields=["entity_type", "entity_id", "-event_timestamp"],
                         name="idx_event_entity"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.entity_type}:{self.entity_id} v{self.entity_version}"


class DataLineage(models.Model):
    """An edge of the lineage graph between two named nodes (URN-like strings such as
    `source:directus/customer`, `topic:acme.customers.directus.entity_changed`,
    `catalog:customer`), with the transformation that connects them."""

    upstream = models.CharField(max_length=300)
    downstream = models.CharField(max_length=300)
    transformation = models.CharField(max_length=200)
    origin = models.CharField(max_length=20, choices=RelationshipOrigin.choices,
                              default=RelationshipOrigin.DERIVED)
    recorded_by = models.CharField(max_length=150, blank=True, default="")
    details = models.JSONField(default=dict, blank=True)
    first_seen_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField(auto_now=True)
    times_seen = models.BigIntegerField(default=1)

    class Meta:
        db_table = "data_lineage"
        verbose_name_plural = "data lineage"
        constraints = [
            models.UniqueConstraint(fields=["upstream", "downstream", "transformation"],
                                    name="one_lineage_edge"),
        ]
        indexes = [
            models.Index(fields=["downstream"], name="idx_lineage_downstream"),
        ]

    def __str__(self) -> str:
        return f"{self.upstream} -> {self.downstream} ({self.transformation})"


class CacheStatus(models.Model):
    """The L3 cache: the last canonical record fetched from the source, and how fresh it is.

    An invalidated entry is kept (``invalidated``) so it can still be served, marked stale,
    while its source is down.
    """

    entity_type = models.CharField(max_length=100)
    entity_id = models.CharField(max_length=255)
    source_system = models.CharField(max_length=100)
    record = models.JSONField(null=True, blank=True)
    invalidated = models.BooleanField(default=False)
    fetched_at = models.DateTimeField()
    expires_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    last_error_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "cache_status"
        verbose_name_plural = "cache status"
        constraints = [
            models.UniqueConstraint(fields=["entity_type", "entity_id"], name="one_cache_status"),
        ]

    def __str__(self) -> str:
        return f"{self.entity_type}:{self.entity_id} fetched {self.fetched_at:%Y-%m-%d %H:%M}"
