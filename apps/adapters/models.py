"""A tenant's source connections: which adapter reaches which source, and how."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from apps.adapters import connection_cache
from dictamesh.secrets import decrypt_json, encrypt_json


class HealthState(models.TextChoices):
    UNKNOWN = "unknown", "unknown"
    HEALTHY = "healthy", "healthy"
    DEGRADED = "degraded", "degraded"
    DOWN = "down", "down"


class SourceConnection(models.Model):
    """One configured source of a tenant. Credentials are stored encrypted (Fernet)."""

    #: successful polls between two deletion sweeps (option ``deletion_check_every_polls``)
    DEFAULT_DELETION_CHECK_EVERY = 5

    name = models.SlugField(max_length=100, unique=True,
                            help_text="Unique per tenant; names the connection in metrics, "
                                      "breaker keys and the webhook URL.")
    adapter = models.CharField(max_length=100, help_text="The adapter registry's key, e.g. "
                                                         "directus, products, ecommerce.")
    base_url = models.URLField(max_length=500)
    credentials_encrypted = models.TextField(blank=True, default="", editable=False)
    options = models.JSONField(default=dict, blank=True)
    polling_interval_seconds = models.PositiveIntegerField(default=60)
    enabled = models.BooleanField(default=True)
    # Change detection: the durable cursor and how the last poll went.
    change_cursor = models.TextField(blank=True, default="")
    last_polled_at = models.DateTimeField(null=True, blank=True)
    last_poll_error = models.TextField(blank=True, default="")
    last_webhook_at = models.DateTimeField(null=True, blank=True,
                                           help_text="When the source's last webhook was taken.")
    # Health, as last checked.
    health_state = models.CharField(max_length=20, choices=HealthState.choices,
                                    default=HealthState.UNKNOWN)
    health_detail = models.TextField(blank=True, default="")
    health_checked_at = models.DateTimeField(null=True, blank=True)
    # The data product's declared service level (empty: the adapter's own, get_sla()).
    declared_freshness_seconds = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1)],
        help_text="Promised freshness: a change at the source shows within this many "
                  "seconds. Empty: the adapter's default.")
    declared_availability = models.FloatField(
        null=True, blank=True, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="Promised availability, a fraction such as 0.995. Empty: the adapter's "
                  "default.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "source_connection"
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.adapter})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        super().save(*args, **kwargs)
        connection_cache.forget(self.name)  # data products are built from these rows

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        deleted = super().delete(*args, **kwargs)
        connection_cache.forget(self.name)
        return deleted

    @property
    def deletion_check_every(self) -> int:
        """Successful polls between two sweeps for deletions (an id listing compared with
        the cache): a deletion shows within this many polling intervals. 0: no sweep."""
        value = (self.options or {}).get("deletion_check_every_polls",
                                         self.DEFAULT_DELETION_CHECK_EVERY)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValidationError({"options": (
                f"deletion_check_every_polls must be a whole number >= 0 (0 turns the "
                f"deletion sweep off), got {value!r}.")})
        return value

    @property
    def credentials(self) -> dict[str, str]:
        if not self.credentials_encrypted:
            return {}
        value: dict[str, str] = decrypt_json(self.credentials_encrypted,
                                             settings.DICTAMESH_CREDENTIALS_KEYS)
        return value

    def set_credentials(self, credentials: dict[str, Any]) -> None:
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in credentials.items()):
            raise ValidationError("Credentials are a JSON object of text values.")
        self.credentials_encrypted = encrypt_json(credentials,
                                                  settings.DICTAMESH_CREDENTIALS_KEYS)

    def clean(self) -> None:
        from apps.adapters.registry import AdapterNotFound, get_adapter_class

        try:
            get_adapter_class(self.adapter)
        except AdapterNotFound as exc:
            raise ValidationError({"adapter": str(exc)}) from None
        if self.polling_interval_seconds < 5:
            raise ValidationError({"polling_interval_seconds": "Poll at most every 5 s."})
        if not isinstance(self.options, dict):
            raise ValidationError({"options": "Options are a JSON object."})
        self.deletion_check_every  # noqa: B018 - raises ValidationError when malformed


class ObservationKind(models.TextChoices):
    POLL = "poll", "change poll"
    HEALTH = "health", "health check"
    WEBHOOK = "webhook", "webhook read-back"


class SourceObservation(models.Model):
    """One time the platform reached a source, and whether the source answered: the record
    a connection's observed availability is measured from (beside its declared one)."""

    connection = models.ForeignKey(SourceConnection, on_delete=models.CASCADE,
                                   related_name="observations")
    kind = models.CharField(max_length=20, choices=ObservationKind.choices)
    ok = models.BooleanField()
    observed_at = models.DateTimeField(auto_now_add=True)
    detail = models.TextField(blank=True, default="")

    class Meta:
        db_table = "source_observation"
        ordering = ["-observed_at"]
        indexes = [models.Index(fields=["connection", "-observed_at"],
                                name="idx_observation_recent")]

    def __str__(self) -> str:
        return f"{self.connection_id} {self.kind} {'ok' if self.ok else 'failed'}"


class SourceDescription(models.Model):
    """A REST source described in data (see apps/adapters/declarative/description.py): a
    connection whose adapter is this name reads its source as the description says. Each
    saved change is a new version, kept in SourceDescriptionVersion."""

    name = models.SlugField(max_length=100, unique=True,
                            help_text="The adapter name connections choose, e.g. suppliers; "
                                      "also the source name of its events and topics.")
    spec = models.JSONField(help_text="The description (JSON, or YAML in the admin).")
    version = models.PositiveIntegerField(default=1, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "source_description"
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"


class SourceDescriptionVersion(models.Model):
    """One saved version of a description, as it was: what served when, and who saved it."""

    description = models.ForeignKey(SourceDescription, on_delete=models.CASCADE,
                                    related_name="versions")
    version = models.PositiveIntegerField()
    spec = models.JSONField()
    saved_by = models.CharField(max_length=150, blank=True, default="")
    saved_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "source_description_version"
        ordering = ["description", "-version"]
        constraints = [models.UniqueConstraint(fields=["description", "version"],
                                               name="one_row_per_description_version")]

    def __str__(self) -> str:
        return f"{self.description.name} v{self.version}"
