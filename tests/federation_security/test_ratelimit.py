"""The per-key rate limit: trips at limit + 1 with a retry-after, recovers after the window,
keeps keys and tenants apart, and fails open when Redis is unreachable."""

from __future__ import annotations

import time
import uuid

import pytest
import redis
from django_redis import get_redis_connection
from redis.backoff import NoBackoff
from redis.retry import Retry

from apps.federation import ratelimit
from apps.federation.auth import Principal
from apps.federation.ratelimit import UNAVAILABLE, RateLimited, check_rate, rate_key
from apps.tenancy.graphql_limits import set_tenant_graphql_limits


def _principal(tenant: str = "test_alpha") -> Principal:
    # A fresh key id per test: counters of earlier runs cannot interfere.
    return Principal(key_id=uuid.uuid4().int % 10**12, tenant=tenant,
                     scopes=frozenset({"read"}), name="t")


@pytest.fixture(autouse=True)
def _fresh_client():
    ratelimit.reset()
    yield
    ratelimit.reset()


@pytest.fixture
def tiny_window(settings):
    settings.GRAPHQL_RATE_LIMIT_PER_MINUTE = 3
    settings.GRAPHQL_RATE_LIMIT_WINDOW_SECONDS = 1


def test_the_limit_trips_at_n_plus_one_and_recovers_after_the_window(db, tiny_window):
    principal = _principal()
    for _ in range(3):
        check_rate(principal)
    with pytest.raises(RateLimited) as caught:
        check_rate(principal)
    assert (caught.value.retry_after_seconds, caught.value.limit) == (1, 3)
    assert caught.value.headers["Retry-After"] == "1"
    assert "Retry after 1 s" in str(caught.value)

    time.sleep(1.1)
    check_rate(principal)


def test_the_counter_key_carries_the_tenant_and_expires(db, tiny_window):
    principal = _principal()
    check_rate(principal)
    key = rate_key(principal)
    assert key == f"ratelimit:graphql:test_alpha:{principal.key_id}"
    assert 0 < get_redis_connection("default").pttl(key) <= 1000


def test_a_weighted_check_counts_each_operation_of_a_batch(db, tiny_window):
    principal = _principal()
    check_rate(principal, weight=3)
    with pytest.raises(RateLimited):
        check_rate(principal)


def test_keys_and_tenants_are_counted_apart(db, tiny_window):
    first, second = _principal("test_alpha"), _principal("test_beta")
    for _ in range(3):
        check_rate(first)
    with pytest.raises(RateLimited):
        check_rate(first)
    check_rate(second)


def test_a_tenant_override_replaces_the_platform_limit(tenant_a, tiny_window):
    set_tenant_graphql_limits(tenant_a.schema_name, {"rate_limit_per_minute": 1})
    principal = _principal(tenant_a.schema_name)
    check_rate(principal)
    with pytest.raises(RateLimited) as caught:
        check_rate(principal)
    assert caught.value.limit == 1


def test_redis_down_fails_open_fast_and_is_counted(db, tiny_window, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    before = UNAVAILABLE._value.get()
    principal = _principal()
    started = time.monotonic()
    for _ in range(5):  # over the limit of 3, yet let through
        check_rate(principal)
    # No retries with back-off (redis-py's default would take ~10 s per request).
    assert time.monotonic() - started < 5
    assert UNAVAILABLE._value.get() == before + 5


def test_a_given_client_that_fails_also_fails_open(db, tiny_window):
    dead = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2,
                       retry=Retry(NoBackoff(), 0))
    check_rate(_principal(), client=dead)
