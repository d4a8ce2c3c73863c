from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django_tenants.models import DomainMixin, TenantMixin

from apps.tenancy.graphql_limits import validate_graphql_limits
from apps.tenancy.retention import validate_retention


class Tenant(TenantMixin):
    """One organisation. Its slug is its PostgreSQL schema name and its topic prefix."""

    name = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)
    # Overrides of the GraphQL API's limits for this tenant, e.g. {"max_depth": 10}; the
    # accepted keys are apps.tenancy.graphql_limits.LIMIT_SPECS.
    graphql_limits = models.JSONField(default=dict, blank=True,
                                      validators=[validate_graphql_limits])
    # Overrides of how long this tenant's housekeeping data is kept, e.g.
    # {"event_log_days": 365}; the keys are apps.tenancy.retention.RETENTION_KEYS.
    retention = models.JSONField(default=dict, blank=True, validators=[validate_retention])
    # The partition tier of its Kafka topics (deploy/kafka/topics.toml [partition_tiers]);
    # blank: the spec's default tier.
    partition_tier = models.CharField(max_length=40, blank=True, default="")

    auto_create_schema = True
    auto_drop_schema = False  # dropping a schema is only ever done by offboard_tenant

    class Meta:
        ordering = ["schema_name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.schema_name})"

    @property
    def slug(self) -> str:
        return self.schema_name


class Domain(DomainMixin):
    """A host name that routes requests to its tenant."""

    class Meta:
        ordering = ["domain"]


class ApiKey(models.Model):
    """A tenant's key to the GraphQL API. Only a keyed hash of its secret is stored.

    The plaintext is ``dm_<tenant>_<prefix>_<secret>``: ``prefix`` finds the row, the secret
    is checked against ``secret_hash`` (see apps.tenancy.api_keys).
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True)
    secret_hash = models.CharField(max_length=64)  # hex HMAC-SHA256 of the secret
    scopes = ArrayField(models.CharField(max_length=16))
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    # None: the key is valid until revoked
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["tenant", "-created_at"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix})"

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None


class Role(models.TextChoices):
    """What a member may do in its tenant's admin and registry subjects, weakest first."""

    VIEWER = "viewer", "viewer (reads)"
    CURATOR = "curator", "curator (reads and changes the tenant's objects)"
    ADMIN = "admin", "tenant admin (also API keys and members)"


class Membership(models.Model):
    """A user's role in one tenant. Users live in the public schema and belong to no tenant
    by themselves: only a membership lets a user into a tenant host's admin."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="tenant_memberships")
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.VIEWER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["tenant", "user"]
        constraints = [models.UniqueConstraint(fields=["user", "tenant"],
                                               name="tenancy_one_membership_per_tenant")]
        # Not a model permission but the platform role: operators who are not superusers
        # get it (directly or through a group) to manage tenants, domains, users and keys.
        permissions = [("platform_admin", "Administers the platform (all tenants)")]

    def __str__(self) -> str:
        return f"{self.user} in {self.tenant.schema_name} as {self.role}"


class AuditEntry(models.Model):
    """One audited change: who did what, when, from where, to which object (append-only:
    the database refuses UPDATE and DELETE, see migration 0005 and apps/tenancy/audit.py).

    Kept in the public schema with the tenant's slug (empty: the platform's own), so a
    tenant's entries outlive its offboarding and platform admins see them all at once.
    """

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    tenant = models.CharField(max_length=63, blank=True, default="", db_index=True)
    actor = models.CharField(max_length=200)  # user name, "api-key:<prefix>" or "system"
    action = models.CharField(max_length=64, db_index=True)  # e.g. "api_key.created"
    object_type = models.CharField(max_length=100, blank=True, default="")
    object_id = models.CharField(max_length=255, blank=True, default="")
    origin = models.CharField(max_length=200, blank=True, default="")  # IP, "cli", "worker"
    before_digest = models.CharField(max_length=64, blank=True, default="")
    after_digest = models.CharField(max_length=64, blank=True, default="")
    detail = models.JSONField(default=dict, blank=True)  # a summary, never secrets
    trace_id = models.CharField(max_length=32, blank=True, default="")

    class Meta:
        ordering = ["-id"]
        verbose_name = "audit log entry"
        verbose_name_plural = "audit log"
        indexes = [models.Index(fields=["tenant", "-id"])]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor} {self.action} {self.object_id}"
