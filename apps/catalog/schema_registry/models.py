"""Schema registry tables, in the public schema: every tenant shares one registry.

Only ``services.py`` reads and writes these; other apps go through it.
"""

from __future__ import annotations

from django.db import models

DEFAULT_COMPATIBILITY = "BACKWARD"
DEFAULT_MODE = "READWRITE"


class Subject(models.Model):
    """A named line of schema versions, usually ``<topic>-key`` or ``<topic>-value``."""

    name = models.CharField(max_length=255, unique=True)
    # None: the global level applies. Levels are validated by services, not by choices,
    # so that the list lives in one place (dictamesh.events.compatibility).
    compatibility = models.CharField(max_length=32, null=True, blank=True)
    # None: the global mode applies (READWRITE, READONLY or IMPORT; services.MODES).
    mode = models.CharField(max_length=16, null=True, blank=True)
    # True once the subject has versions and all of them are soft-deleted.
    deleted = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Schema(models.Model):
    """One distinct schema; its id is the global id written into every Kafka message."""

    # The Confluent wire format carries the id in 4 signed bytes: keep it a 32-bit integer.
    id = models.AutoField(primary_key=True)
    schema_type = models.CharField(max_length=16, default="AVRO")
    schema = models.TextField(help_text="The text as first registered; returned to clients.")
    canonical = models.TextField(help_text="Parsed JSON dumped with sorted keys, no spaces.")
    # sha256 of type + canonical text: equal schemas under any subject share one id.
    fingerprint = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"schema {self.id}"


class SubjectVersion(models.Model):
    """Version ``version`` of ``subject`` is ``schema``."""

    subject = models.ForeignKey(Subject, on_delete=models.CASCADE, related_name="versions")
    version = models.PositiveIntegerField()
    schema = models.ForeignKey(Schema, on_delete=models.PROTECT, related_name="subject_versions")
    deleted = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["subject_id", "version"]  # by id: no join to order
        constraints = [
            # The backstop against two writers numbering the same version.
            models.UniqueConstraint(fields=["subject", "version"],
                                    name="sr_subject_version_unique"),
            # A live schema appears once per subject (re-registering returns that version).
            models.UniqueConstraint(
                fields=["subject", "schema"], condition=models.Q(deleted=False),
                name="sr_subject_live_schema_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.subject.name} v{self.version}"


class SchemaReference(models.Model):
    """Schema ``schema`` uses the named type ``name`` defined by version ``version`` of
    ``subject`` (by name: the subject row may be recreated; deletions of a referenced
    version are refused while a schema in use refers to it)."""

    schema = models.ForeignKey(Schema, on_delete=models.CASCADE, related_name="references")
    position = models.PositiveSmallIntegerField()  # the order the client gave
    name = models.CharField(max_length=255)
    subject = models.CharField(max_length=255)
    version = models.PositiveIntegerField()

    class Meta:
        ordering = ["schema_id", "position"]
        constraints = [
            models.UniqueConstraint(fields=["schema", "position"], name="sr_reference_position"),
        ]
        indexes = [models.Index(fields=["subject", "version"], name="sr_reference_target")]

    def __str__(self) -> str:
        return f"{self.name} from {self.subject} v{self.version}"


class RegistryConfig(models.Model):
    """The single global configuration row (id 1); absent means the defaults."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    compatibility = models.CharField(max_length=32, default=DEFAULT_COMPATIBILITY)
    mode = models.CharField(max_length=16, default=DEFAULT_MODE)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(id=1), name="sr_config_singleton"),
        ]

    def __str__(self) -> str:
        return f"global compatibility {self.compatibility}, mode {self.mode}"
