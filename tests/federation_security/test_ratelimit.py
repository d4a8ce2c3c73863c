"""The per-key rate limit: trips at limit + 1 with a retry-after, recovers after the window,
keeps keys and tenants apart, and fails open when Redis is unreachable."""

from __future__ import annotations

import math
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
    # The production timeout (0.25 s) fails open when Redis is slow to answer, as it may be
    # on a busy machine: the tests of counting need every answer.
    settings.GRAPHQL_RATE_LIMIT_REDIS_TIMEOUT_SECONDS = 10


@pytest.fixture
def long_window(tiny_window, settings):
    """A window no busy machine outlasts between two checks, for tests that trip the limit."""
    settings.GRAPHQL_RATE_LIMIT_WINDOW_SECONDS = 600


def wait_until_the_window_ends(principal: Principal) -> None:
    """Redis drops the counter when its window ends: wait for that, not for a clock."""
    connection = get_redis_connection("default")
    deadline = time.monotonic() + 30
    while connection.exists(rate_key(principal)):
        assert time.monotonic() < deadline, "the rate-limit window never ended"
        time.sleep(0.05)


def test_the_limit_trips_at_n_plus_one_and_recovers_after_the_window(db, long_window):
    principal = _principal()
    for _ in range(3):
        check_rate(principal)
    with pytest.raises(RateLimited) as caught:
        check_rate(principal)
    # Retry-After is what is left of the window, rounded up; at most the whole window.
    left_s = math.ceil(get_redis_connection("default").pttl(rate_key(principal)) / 1000)
    retry_after = caught.value.retry_after_seconds
    assert left_s <= retry_after <= 600
    assert caught.value.limit == 3
    assert caught.value.headers["Retry-After"] == str(retry_after)
    assert f"Retry after {retry_after} s" in str(caught.value)

    # Bring the end of the window close, rather than waiting ten minutes for it.
    get_redis_connection("default").pexpire(rate_key(principal), 50)
    wait_until_the_window_ends(principal)
    check_rate(principal)


def test_the_counter_key_carries_the_tenant_and_expires(db, tiny_window):
    principal = _principal()
    check_rate(principal)
    key = rate_key(principal)
    assert key == f"ratelimit:graphql:test_alpha:{principal.key_id}"
    # The counter expires with its window (1 s): gone once the window ended, however late
    # this test gets to look.
    assert get_redis_connection("default").pttl(key) <= 1000
    wait_until_the_window_ends(principal)


def test_a_weighted_check_counts_each_operation_of_a_batch(db, long_window):
    principal = _principal()
    check_rate(principal, weight=3)
    with pytest.raises(RateLimited):
        check_rate(principal)


def test_keys_and_tenants_are_counted_apart(db, long_window):
    first = _principal("test_alpha")
    # The same key id in another tenant (ids are per tenant schema), and another key id in
    # the same tenant: neither shares the first one's count.
    same_id_other_tenant = Principal(key_id=first.key_id, tenant="test_beta",
                                     scopes=first.scopes, name="t")
    other_key_same_tenant = _principal("test_alpha")
    for _ in range(3):
        check_rate(first)
    with pytest.raises(RateLimited):
        check_rate(first)
    for _ in range(3):  # each may still spend its whole limit
        check_rate(same_id_other_tenant)
        check_rate(other_key_same_tenant)
    with pytest.raises(RateLimited):
        check_rate(same_id_other_tenant)
    with pytest.raises(RateLimited):
        check_rate(other_key_same_tenant)
    counts = get_redis_connection("default")
    assert [int(counts.get(rate_key(p))) for p in
            (first, same_id_other_tenant, other_key_same_tenant)] == [4, 4, 4]


def test_a_tenant_override_replaces_the_platform_limit(tenant_a, long_window):
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


def test_a_given_client_that_fails_also_fails_open(db, long_window):
    # Nothing listens on port 1: the connection is refused at once, no timeout involved.
    dead = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=10,
                       retry=Retry(NoBackoff(), 0))
    principal = _principal()
    before = UNAVAILABLE._value.get()
    for _ in range(5):  # over the limit of 3, yet let through
        check_rate(principal, client=dead)
    assert UNAVAILABLE._value.get() == before + 5
    # A given client's failure does not make the limiter skip its own Redis afterwards.
    for _ in range(3):
        check_rate(principal)
    with pytest.raises(RateLimited):
        check_rate(principal)
