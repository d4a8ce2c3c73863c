"""Per-tenant overrides of the GraphQL API's limits, stored on ``Tenant.graphql_limits``.

The tenancy app owns the stored value and its validation; the federation app
(``apps.federation.limits`` and ``.ratelimit``) merges it over the platform defaults. Only
the keys named here are accepted, so a typo such as ``max_dept`` is refused with a message
instead of being silently ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cachetools import TTLCache
from django.core.exceptions import ValidationError


@dataclass(frozen=True)
class LimitSpec:
    kind: type  # int or bool
    minimum: int = 0
    maximum: int = 0
    help: str = ""


LIMIT_SPECS: dict[str, LimitSpec] = {
    "max_depth": LimitSpec(int, 1, 100, "deepest field nesting in one operation"),
    "max_cost": LimitSpec(int, 1, 10_000_000, "estimated fields resolved by one operation"),
    "max_aliases": LimitSpec(int, 0, 10_000, "aliased fields in one operation"),
    "max_tokens": LimitSpec(int, 100, 1_000_000, "lexical tokens in one document"),
    "max_operations": LimitSpec(int, 1, 1_000, "operations in one batch request"),
    "introspection": LimitSpec(bool, help="whether __schema/__type queries are allowed"),
    "rate_limit_per_minute": LimitSpec(int, 1, 10_000_000, "requests per API key per minute"),
    "registered_documents_only": LimitSpec(
        bool, help="whether only the tenant's registered GraphQL documents may run "
                   "(`manage.py register_graphql_documents`)"),
}

# Read on every GraphQL request: a short process-local cache spares a query each time. A
# change made by `set_graphql_limits` is seen at once by the process that made it and
# within this many seconds by every other process.
CACHE_SECONDS = 30
_cache: TTLCache[str, dict[str, Any]] = TTLCache(maxsize=10_000, ttl=CACHE_SECONDS)


def validate_graphql_limits(value: Any) -> dict[str, Any]:
    """``value`` checked and returned as a plain dict; ValidationError names what is wrong."""
    if not isinstance(value, Mapping):
        raise ValidationError("GraphQL limits must be a JSON object such as {\"max_depth\": 10}.")
    problems = []
    for key, item in value.items():
        spec = LIMIT_SPECS.get(key)
        if spec is None:
            problems.append(f"unknown GraphQL limit {key!r} (known limits: "
                            f"{', '.join(sorted(LIMIT_SPECS))})")
        elif spec.kind is bool:
            if not isinstance(item, bool):
                problems.append(f"{key} must be true or false, not {item!r}")
        elif isinstance(item, bool) or not isinstance(item, int):
            problems.append(f"{key} must be a whole number, not {item!r}")
        elif not spec.minimum <= item <= spec.maximum:
            problems.append(f"{key}={item} is out of range: use {spec.minimum}..{spec.maximum}")
    if problems:
        raise ValidationError("; ".join(problems) + ".")
    return dict(value)


def tenant_graphql_limits(slug: str) -> dict[str, Any]:
    """The tenant's overrides (possibly empty; empty too for an unknown tenant)."""
    cached = _cache.get(slug)
    if cached is None:
        from apps.tenancy.models import Tenant  # models import this module for the validator

        row = Tenant.objects.filter(schema_name=slug).values_list("graphql_limits", flat=True)
        cached = dict(row.first() or {})
        _cache[slug] = cached
    return dict(cached)


def set_tenant_graphql_limits(slug: str, changes: Mapping[str, Any],
                              unset: tuple[str, ...] = (), clear: bool = False) -> dict[str, Any]:
    """Apply ``changes`` (and remove ``unset`` keys, or every key with ``clear``) to the
    tenant's overrides; returns the stored result. Raises ValidationError or LookupError."""
    from apps.tenancy.models import Tenant

    tenant = Tenant.objects.filter(schema_name=slug).first()
    if tenant is None:
        raise LookupError(f"No tenant {slug!r}: `manage.py list_tenants` shows the tenants.")
    unknown = [key for key in unset if key not in LIMIT_SPECS]
    if unknown:
        validate_graphql_limits(dict.fromkeys(unknown, 0))  # raises with the known keys
    from apps.tenancy.audit import record_audit  # audit imports the models, which import us

    before = dict(tenant.graphql_limits or {})
    limits = {} if clear else dict(before)
    for key in unset:
        limits.pop(key, None)
    limits.update(changes)
    tenant.graphql_limits = validate_graphql_limits(limits)
    tenant.save(update_fields=["graphql_limits"])
    record_audit("config.changed", object_type="graphql_limits", object_id=slug, tenant=slug,
                 before=before, after=tenant.graphql_limits,
                 detail={"graphql_limits": tenant.graphql_limits})
    clear_cache()
    return tenant.graphql_limits


def clear_cache() -> None:
    _cache.clear()


def forget_tenant_graphql_limits(slug: str) -> None:
    """Drop this process's cached copy of one tenant's limits (it was offboarded)."""
    _cache.pop(slug, None)
