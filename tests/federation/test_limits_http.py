"""The query limits and the rate limit on the real `/graphql`, end to end: each refusal is a
4xx with a GraphQL `errors` body naming the limit, and nothing reaches a source.

The `api` fixture raises max_cost for the nested-query tests; these tests pin the platform
defaults (QueryLimits()) explicitly, so they check what a tenant gets out of the box.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import asdict
from typing import Any

import pytest
from django_redis import get_redis_connection

from apps.federation import ratelimit, views
from apps.federation.auth import Principal
from apps.federation.limits import QueryLimits
from apps.tenancy.api_keys import create_api_key
from apps.tenancy.graphql_limits import set_tenant_graphql_limits
from tests.federation.conftest import Api
from tests.sources.conftest import calls, control

DEFAULTS = QueryLimits()


def _nested(levels: int) -> str:
    """A selection ``levels`` fields deep below `customer`: customer -> invoices -> customer
    -> invoices ... (every level a real field, so only the depth limit can refuse it)."""
    path = ["invoices" if level % 2 == 0 else "customer" for level in range(levels - 1)]
    inner = "id"
    for name in reversed(path):  # wrap from the innermost field outwards
        inner = f"{name} {{ {inner} }}"
    return inner


@pytest.fixture
def defaults(api: Api) -> Api:
    """The tenant on the platform's default limits, introspection off, as in production."""
    set_tenant_graphql_limits(api.tenant, asdict(DEFAULTS), clear=True)
    return api


@pytest.fixture
def nothing_runs(api: Api, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """Fails the test if the request executes anything or any source receives a request:
    a spy on the view's `execute`, and the reference servers' own request counts."""
    executed: list[Any] = []
    real_execute = views.execute

    def spy(*args: Any, **kwargs: Any) -> Any:
        executed.append(args)
        return real_execute(*args, **kwargs)

    monkeypatch.setattr(views, "execute", spy)
    urls = (api.sources.directus_url, api.sources.products_url, api.sources.ecommerce_url)
    for url in urls:
        control(url, "reset")
    yield executed
    assert executed == [], "a refused request must not execute"
    assert {url: calls(url) for url in urls} == dict.fromkeys(urls, 0)


def _refused(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.content
    body = response.json()
    assert body["errors"], body
    assert code in [error["extensions"]["code"] for error in body["errors"]], body
    assert "data" not in body or body["data"] is None
    return body


def test_a_query_twenty_levels_deep_is_refused(defaults: Api, nothing_runs):
    # Every other level is a list, so the cost limit objects too; the depth error must be
    # there regardless (checked with raised limits: the chain itself is a valid query).
    query = f'{{ customer(id: "1") {{ {_nested(19)} }} }}'
    _refused(defaults.post(query), 400, "QUERY_TOO_DEEP")


def test_a_fragment_named_schema_does_not_hide_depth(defaults: Api, nothing_runs):
    query = ('{ customer(id: "1") { ...__schema } } '
             f"fragment __schema on Customer {{ {_nested(19)} }}")
    _refused(defaults.post(query), 400, "QUERY_TOO_DEEP")


def test_five_hundred_aliases_are_refused(defaults: Api, nothing_runs):
    # __typename costs nothing and touches no source: only the alias count can refuse this.
    query = "{ " + " ".join(f"a{n}: __typename" for n in range(500)) + " }"
    assert DEFAULTS.max_aliases < 500
    _refused(defaults.post(query), 400, "TOO_MANY_ALIASES")


def test_an_over_cost_query_is_refused(defaults: Api, nothing_runs):
    # 250 invoices x (their fields + ~10 items x a product each): far above 5000.
    query = ('{ invoices(customerId: "1", first: 250) { nodes { id items { quantity '
             "product { id name price { amount } } } } } }")
    body = _refused(defaults.post(query), 400, "QUERY_TOO_COSTLY")
    assert f"limit of {DEFAULTS.max_cost}" in body["errors"][0]["message"]


def test_a_batch_over_the_operation_limit_is_refused(defaults: Api, nothing_runs):
    operation = {"query": '{ customer(id: "1") { id } }'}
    response = defaults.post("", body=[operation] * (DEFAULTS.max_operations + 1))
    _refused(response, 400, "BATCH_TOO_LARGE")


def test_an_undefined_fragment_is_refused(defaults: Api, nothing_runs):
    response = defaults.post('{ customer(id: "1") { ...Nowhere } }')
    body = _refused(response, 400, "GRAPHQL_VALIDATION_FAILED")
    assert "Nowhere" in body["errors"][0]["message"]


def test_another_tenants_key_is_forbidden(defaults: Api, tenant_b, nothing_runs):
    _, other = create_api_key(tenant_b.schema_name, "tenant b", ["read"])
    _refused(defaults.post('{ customer(id: "1") { id } }', key=other), 403, "FORBIDDEN")


def test_a_read_key_may_not_send_mutations(defaults: Api, nothing_runs):
    _, reader = create_api_key(defaults.tenant, "reader", ["read"])
    _refused(defaults.post('mutation { anything }', key=reader), 403, "INSUFFICIENT_SCOPE")


def test_the_rate_limit_trips_with_retry_after_and_recovers(defaults: Api, settings,
                                                            nothing_runs):
    # A window no busy machine outlasts between four requests; its end is brought close
    # below instead of waited for.
    settings.GRAPHQL_RATE_LIMIT_WINDOW_SECONDS = 600
    settings.GRAPHQL_RATE_LIMIT_REDIS_TIMEOUT_SECONDS = 10  # a slow Redis must not fail open
    set_tenant_graphql_limits(defaults.tenant, {"rate_limit_per_minute": 3})
    ratelimit.reset()  # no failure back-off left over from another test
    record, key = create_api_key(defaults.tenant, "rate limited", ["read"])  # a fresh counter
    counter = ratelimit.rate_key(Principal(key_id=record.pk, tenant=defaults.tenant,
                                           scopes=frozenset(), name=record.name))
    query = "{ __typename }"  # answered without a source
    # Without the response cache every allowed request executes, so the spy can tell an
    # executed request from a refused one.
    settings.GRAPHQL_RESPONSE_CACHE_SECONDS = 0

    for _ in range(3):
        assert defaults.post(query, key=key).status_code == 200
    assert len(nothing_runs) == 3  # the allowed requests executed ...
    response = defaults.post(query, key=key)
    _refused(response, 429, "RATE_LIMITED")
    assert len(nothing_runs) == 3  # ... and the refused one did not
    left_s = math.ceil(get_redis_connection("default").pttl(counter) / 1000)
    assert left_s <= int(response["Retry-After"]) <= 600

    get_redis_connection("default").pexpire(counter, 50)  # the window ends
    deadline = time.monotonic() + 30
    while get_redis_connection("default").exists(counter):
        assert time.monotonic() < deadline, "the rate-limit window never ended"
        time.sleep(0.05)
    assert defaults.post(query, key=key).status_code == 200
    assert len(nothing_runs) == 4
    nothing_runs.clear()  # the allowed requests executed; the sources still saw nothing


def test_introspection_off_is_refused_and_on_is_allowed(defaults: Api, nothing_runs):
    query = "{ __schema { queryType { name } } }"
    _refused(defaults.post(query), 400, "INTROSPECTION_DISABLED")

    set_tenant_graphql_limits(defaults.tenant, {"introspection": True})
    response = defaults.post(query)
    assert response.status_code == 200, response.content
    assert response.json()["data"]["__schema"]["queryType"]["name"] == "Query"
    nothing_runs.clear()  # introspection executed, from the schema in memory
