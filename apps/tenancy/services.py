"""The public API of the tenancy app: onboarding and offboarding tenants, admin superusers,
tenant members and their roles, the tenant list, API keys and per-tenant GraphQL limits.

Management commands, the admin and other apps call these; nothing else creates or drops
schemas. Values and errors other apps receive are in ``contracts.py``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import transaction
from django.dispatch import Signal
from django_tenants.utils import (
    get_public_schema_name,
    remove_www,
    schema_context,
    schema_exists,
)

from apps.tenancy.api_keys import (
    api_key_expired_at,
    create_api_key,
    revoke_api_key,
    tenant_has_keys,
    verify_api_key,
)
from apps.tenancy.audit import (
    AuditFilter,
    acting_as,
    audit_entries,
    export_jsonl,
    purge_audit_log,
    record_audit,
)
from apps.tenancy.contracts import NewMember
from apps.tenancy.graphql_limits import (
    forget_tenant_graphql_limits,
    set_tenant_graphql_limits,
    tenant_graphql_limits,
)
from apps.tenancy.members import add_member, remove_member
from apps.tenancy.models import Domain, Role, Tenant
from apps.tenancy.retention import (
    RetentionPolicy,
    set_tenant_retention,
    tenant_retention,
)
from apps.tenancy.roles import at_least, is_platform_admin, may_enter_admin, role_in, roles_of
from apps.tenancy.throttling import (
    LOCKED_OUT_MESSAGE,
    is_locked_out,
    record_failed_sign_in,
)
from dictamesh.events.topics import (
    DAY_MS,
    TopicError,
    TopicProvisioningError,
    configured_spec,
    delete_tenant_topics,
    provision_tenant_topics,
)
from dictamesh.redis_clients import new_redis_client
from dictamesh.tenancy import current_schema

__all__ = [
    "AuditFilter",
    "LOCKED_OUT_MESSAGE",
    "NewMember",
    "OnboardingResult",
    "RetentionPolicy",
    "Role",
    "acting_as",
    "add_member",
    "audit_entries",
    "export_jsonl",
    "purge_audit_log",
    "record_audit",
    "at_least",
    "is_locked_out",
    "is_platform_admin",
    "may_enter_admin",
    "remove_member",
    "role_in",
    "roles_of",
    "TenancyError",
    "api_key_expired_at",
    "create_api_key",
    "ensure_superuser",
    "offboard_tenant",
    "record_failed_sign_in",
    "onboard_tenant",
    "revoke_api_key",
    "schema_for_host",
    "set_tenant_graphql_limits",
    "set_tenant_retention",
    "tenant_exists",
    "tenant_graphql_limits",
    "tenant_retention",
    "tenant_has_keys",
    "tenant_offboarded",
    "tenant_partition_tiers",
    "tenant_schemas",
    "validate_domain",
    "validate_slug",
    "verify_api_key",
]

# A slug is a PostgreSQL schema name and a Kafka topic prefix: keep it safe for both.
SLUG_PATTERN = re.compile(r"^[a-z][a-z0-9_]{1,39}$")
RESERVED_SLUGS = frozenset({"public", "information_schema", "system", "default", "admin"})
DOMAIN_PATTERN = re.compile(
    r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$"
)

Progress = Callable[[str], None]


#: Sent with ``slug=`` by offboard_tenant once the tenant's schema is dropped. Apps that keep
#: a tenant's state outside its schema (the schema registry: the subjects of its topics)
#: clear it here; tenancy is the lowest app layer and cannot call them.
tenant_offboarded = Signal()


class TenancyError(Exception):
    """A tenancy operation was refused; the message says why and what to do."""


@dataclass(frozen=True)
class OnboardingResult:
    tenant: Tenant
    tenant_created: bool
    domain_created: bool
    # The plaintext of the admin API key made by the first successful onboarding; None on
    # later runs. It is shown once and stored nowhere.
    admin_key: str | None = None
    # The tenant admin user named at onboarding (None if none was asked for); its password
    # is set only if the user was created now, and is shown once like the key.
    admin_user: NewMember | None = None


def validate_slug(slug: str) -> str:
    if not SLUG_PATTERN.match(slug):
        raise TenancyError(
            f"Tenant slug {slug!r} is not valid: use 2-40 characters, lowercase letters, "
            "digits and underscores, starting with a letter (e.g. 'acme' or 'acme_eu')."
        )
    if slug in RESERVED_SLUGS or slug.startswith("pg_"):
        raise TenancyError(f"Tenant slug {slug!r} is reserved: choose another name.")
    return slug


def validate_domain(domain: str) -> str:
    normalised = domain.strip().lower()
    if not DOMAIN_PATTERN.match(normalised):
        raise TenancyError(
            f"Domain {domain!r} is not a valid host name (e.g. 'acme.localhost' or "
            "'acme.example.com'; no scheme, port or path)."
        )
    return normalised


def _require_public_schema() -> None:
    if current_schema() != get_public_schema_name():
        raise TenancyError(
            f"Tenants are managed from the public schema, not from {current_schema()!r}."
        )


def tenant_schemas() -> list[str]:
    """Every tenant's schema, in order, read from the public schema whatever is active."""
    with schema_context(get_public_schema_name()):
        return list(Tenant.objects.exclude(schema_name=get_public_schema_name())
                    .order_by("schema_name").values_list("schema_name", flat=True))


def tenant_partition_tiers(slugs: Iterable[str]) -> dict[str, str | None]:
    """Each tenant's partition tier for its topics (None: the topic spec's default)."""
    with schema_context(get_public_schema_name()):
        tiers = dict(Tenant.objects.filter(schema_name__in=list(slugs))
                     .values_list("schema_name", "partition_tier"))
    return {slug: tier or None for slug, tier in tiers.items()}


def tenant_exists(slug: str) -> bool:
    """Whether a tenant of that slug is registered (read from the public schema)."""
    with schema_context(get_public_schema_name()):
        return slug != get_public_schema_name() and Tenant.objects.filter(
            schema_name=slug).exists()


def schema_for_host(host: str) -> str | None:
    """The schema of the tenant a host name routes to (port and a leading ``www.`` ignored,
    as django-tenants' middleware routes HTTP requests); None for a host of no tenant."""
    hostname = remove_www(host.split(":", 1)[0].lower())
    with schema_context(get_public_schema_name()):
        schema = Domain.objects.filter(domain=hostname).values_list(
            "tenant__schema_name", flat=True).first()
    return None if schema in (None, get_public_schema_name()) else schema


def onboard_tenant(
    slug: str, name: str, domain: str, progress: Progress | None = None,
    admin_username: str | None = None,
    admin_key_expires_at: datetime | None = None,
    partition_tier: str | None = None,
) -> OnboardingResult:
    """Create the tenant, its schema and migrations, and its domain; safe to run twice.
    With ``admin_username``, that user (created if missing) becomes the tenant's admin.
    ``admin_key_expires_at``: when the first admin key (made on the first run) expires.
    ``partition_tier``: its topics' partition tier (topics.toml; None: as it is, or the
    spec's default for a new tenant)."""
    say = progress or (lambda _msg: None)
    validate_slug(slug)
    domain = validate_domain(domain)
    _require_public_schema()
    if partition_tier is not None:
        try:
            configured_spec().max_partitions(partition_tier)
        except TopicError as exc:
            raise TenancyError(str(exc)) from None

    owner = Domain.objects.select_related("tenant").filter(domain=domain).first()
    if owner is not None and owner.tenant.schema_name != slug:
        raise TenancyError(
            f"Domain {domain!r} already belongs to tenant {owner.tenant.schema_name!r}: "
            "choose another domain, or offboard that tenant first."
        )

    tenant = Tenant.objects.filter(schema_name=slug).first()
    tenant_created = tenant is None
    if tenant is None:
        say(f"Creating schema {slug!r} and running its migrations...")
        tenant = Tenant(schema_name=slug, name=name, partition_tier=partition_tier or "")
        tenant.save(verbosity=0)
    else:
        changed = {"name": name, "partition_tier": partition_tier or tenant.partition_tier}
        changed = {key: value for key, value in changed.items()
                   if getattr(tenant, key) != value}
        if changed:
            for key, value in changed.items():
                setattr(tenant, key, value)
            tenant.save(update_fields=list(changed))
        if not schema_exists(slug):
            say(f"Schema {slug!r} was missing: creating it...")
            tenant.create_schema(check_if_exists=True, verbosity=0)
        say(f"Tenant {slug!r} exists; applying any new migrations to its schema...")
        call_command("migrate_schemas", schema_name=slug, interactive=False, verbosity=0)

    with transaction.atomic():
        _, domain_created = Domain.objects.get_or_create(
            domain=domain,
            defaults={"tenant": tenant, "is_primary": not tenant.domains.exists()},
        )
    _provision_topics(slug, tenant.partition_tier or None, say)
    # Last, so that a failed run is retried whole; "has never had a key" (revoked ones
    # count) keeps re-runs from minting keys.
    admin_key = None
    if not tenant_has_keys(slug):
        _, admin_key = create_api_key(slug, "admin key created at onboarding", ["admin"],
                                      expires_at=admin_key_expires_at)
    admin_user = None
    if admin_username:
        say(f"Making {admin_username!r} an admin of {slug!r}...")
        admin_user = add_member(slug, admin_username, Role.ADMIN)
    if tenant_created or domain_created:
        record_audit("tenant.onboarded", object_type="tenant", object_id=slug, tenant=slug,
                     after={"name": name, "domain": domain},
                     detail={"name": name, "domain": domain, "tenant_created": tenant_created})
    return OnboardingResult(tenant=tenant, tenant_created=tenant_created,
                            domain_created=domain_created, admin_key=admin_key,
                            admin_user=admin_user)


def _provision_topics(slug: str, partition_tier: str | None, say: Progress) -> None:
    """Create the tenant's Kafka topics; last, so a Kafka outage fails onboarding loudly
    but leaves a working tenant whose events wait in its outbox until a re-run."""
    if not settings.KAFKA_PROVISION_TOPICS_ON_ONBOARD:
        say(f"Kafka topics skipped (KAFKA_PROVISION_TOPICS_ON_ONBOARD is off): run "
            f"`manage.py provision_topics --tenant {slug}`.")
        return
    say(f"Provisioning the Kafka topics of {slug!r}...")
    try:
        provision_tenant_topics(
            slug, progress=say, partition_tier=partition_tier,
            dead_letter_retention_ms=tenant_retention(slug).dead_letter_days * DAY_MS)
    except TopicProvisioningError as exc:
        raise TenancyError(
            f"Tenant {slug!r} is set up but its Kafka topics are not: {exc} Its events wait "
            f"in its outbox meanwhile; run `manage.py onboard_tenant {slug}` again once "
            "Kafka is reachable."
        ) from exc


def _redis_key_patterns(slug: str) -> tuple[str, ...]:
    """Every Redis key family that holds the tenant's state, as SCAN patterns.

    ``<slug>:*`` is the Django cache (its KEY_FUNCTION puts the schema first),
    ``breaker:<slug>:*`` the circuit breakers of its source connections
    (dictamesh.resilience.breaker) and ``ratelimit:graphql:<slug>:*`` its API keys' request
    counters (apps.federation.ratelimit). A slug holds no glob characters (SLUG_PATTERN).
    """
    return (f"{slug}:*", f"breaker:{slug}:*", f"ratelimit:graphql:{slug}:*")


def _purge_cache(slug: str) -> int:
    """Delete every Redis key of the tenant, so a tenant later created with the same slug
    never sees the old one's cache entries, open breakers or spent rate limits."""
    deleted = 0
    batch: list[bytes] = []
    # The Django cache, breakers and rate limits all live at settings.REDIS_URL.
    with closing(new_redis_client()) as client:
        for pattern in _redis_key_patterns(slug):
            for key in client.scan_iter(match=pattern, count=1000):
                batch.append(key)
                if len(batch) == 1000:
                    deleted += cast(int, client.delete(*batch))
                    batch.clear()
        if batch:
            deleted += cast(int, client.delete(*batch))
    return deleted


def offboard_tenant(slug: str, progress: Progress | None = None) -> None:
    """Drop the tenant's schema with all its data, then its domains and its row."""
    say = progress or (lambda _msg: None)
    _require_public_schema()
    tenant = Tenant.objects.filter(schema_name=slug).first()
    if tenant is None:
        raise TenancyError(f"No tenant {slug!r}: `manage.py list_tenants` shows the tenants.")
    say(f"Dropping schema {slug!r} and everything in it...")
    before = {"name": tenant.name, "domains": sorted(d.domain for d in tenant.domains.all())}
    tenant.delete(force_drop=True)
    record_audit("tenant.offboarded", object_type="tenant", object_id=slug, tenant=slug,
                 before=before, detail=before)
    say(f"Deleting the cached entries, breaker states and rate-limit counters of {slug!r}...")
    _purge_cache(slug)
    forget_tenant_graphql_limits(slug)  # this process's copy; others' expire in seconds
    say(f"Deleting what other apps keep of {slug!r} outside its schema...")
    tenant_offboarded.send(sender=Tenant, slug=slug)
    if settings.KAFKA_PROVISION_TOPICS_ON_ONBOARD:
        say(f"Deleting the Kafka topics of {slug!r}...")
        try:
            delete_tenant_topics(slug, progress=say)
        except TopicProvisioningError as exc:
            raise TenancyError(f"Tenant {slug!r} is dropped but its topics are not: {exc}") \
                from exc


def ensure_superuser(username: str, password: str) -> bool:
    """Create a superuser of the admin unless one by that name exists; True if created.

    Admin users live in the public schema whatever schema is active. An existing user is
    left exactly as it is (its password is not reset).
    """
    users = get_user_model()
    with schema_context(get_public_schema_name()):
        if users.objects.filter(username=username).exists():
            return False
        users.objects.create_superuser(username, "", password)
    return True
