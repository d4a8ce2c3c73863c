"""Every cache key carries the tenant's schema, so tenants never read each other's entries."""

from __future__ import annotations

import uuid

from django.core.cache import cache
from django_tenants.utils import schema_context


def test_cache_key_starts_with_the_tenant_schema(tenant_a, tenant_b):
    for tenant in (tenant_a, tenant_b):
        with schema_context(tenant.schema_name):
            assert cache.make_key("customer:1").startswith(f"{tenant.schema_name}:")


def test_entry_cached_for_one_tenant_is_not_seen_by_another(tenant_a, tenant_b):
    key = f"probe-{uuid.uuid4()}"
    with schema_context(tenant_a.schema_name):
        cache.set(key, "alpha's value", timeout=30)
        assert cache.get(key) == "alpha's value"
    with schema_context(tenant_b.schema_name):
        assert cache.get(key) is None
        cache.set(key, "beta's value", timeout=30)
    with schema_context(tenant_a.schema_name):
        assert cache.get(key) == "alpha's value"
        cache.delete(key)
    with schema_context(tenant_b.schema_name):
        cache.delete(key)
