"""The federation app's door: what commands and operators' tooling call."""

from __future__ import annotations

from django_tenants.utils import schema_context
from graphql import parse

from apps.federation import cache, services
from apps.tenancy.services import set_tenant_graphql_limits


def test_subgraph_names_are_the_exported_subgraph_files():
    files = services.schema_sdl_files()
    assert services.subgraph_names()
    assert set(files) == {"unified.graphql", *(f"{n}.graphql" for n in services.subgraph_names())}


def test_effective_limits_apply_the_tenants_overrides(tenant_a):
    default = services.effective_limits(tenant_a.schema_name)
    set_tenant_graphql_limits(tenant_a.schema_name, {"max_depth": default.max_depth - 3})
    try:
        assert services.effective_limits(tenant_a.schema_name).max_depth == default.max_depth - 3
    finally:
        set_tenant_graphql_limits(tenant_a.schema_name, {}, unset=("max_depth",))


def test_forgetting_cached_responses_makes_them_unreachable(tenant_a):
    document = parse("{ customers(ids: [\"1\"]) { id } }")
    with schema_context(tenant_a.schema_name):
        key = cache.response_key("read", document, None, {}, ["customer"])
        assert key is not None  # None only while Redis is down
        cache.put(key, {"data": {"customers": []}})
        assert cache.get(key) is not None
        services.forget_cached_responses(["customer"])
        fresh_key = cache.response_key("read", document, None, {}, ["customer"])
        assert fresh_key is not None
        assert fresh_key != key
        assert cache.get(fresh_key) is None
