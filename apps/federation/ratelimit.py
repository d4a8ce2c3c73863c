"""Per-API-key request rate limit for the GraphQL API, counted in Redis.

A fixed window per key: the first request opens a window of
GRAPHQL_RATE_LIMIT_WINDOW_SECONDS (default 60) in which the key may make
GRAPHQL_RATE_LIMIT_PER_MINUTE requests (default 600; a tenant may override it with
``rate_limit_per_minute`` in Tenant.graphql_limits). Counter and expiry are set in one Lua
script, so every web process shares one count and a crash can never leave a counter
without its expiry. A fixed window lets a client spend up to twice the limit across a
window boundary; that burst is accepted for the simplicity of one key and one round trip.

Redis down: the limiter FAILS OPEN. The request is let through, a warning is logged (at
most once per LOG_EVERY_SECONDS per process) and dictamesh_graphql_rate_limit_unavailable
counts it. Refusing every request while Redis is down would turn a cache outage into an
API outage; authentication and the query limits still apply meanwhile. Failing open must
also be fast: the limiter has its own client with a short timeout and no retries (redis-py
7 retries three times with up to 10 s of backoff by default), and after a failure it skips
Redis for SKIP_AFTER_FAILURE_SECONDS instead of paying the timeout on every request.
"""

from __future__ import annotations

import math
import time
from typing import cast

import redis
from django.conf import settings
from prometheus_client import Counter
from redis.exceptions import RedisError

from apps.federation.auth import Principal
from apps.tenancy.services import tenant_graphql_limits
from dictamesh.observability.logging import get_logger
from dictamesh.redis_clients import (
    RedisClientOptions,
    forget_shared_redis_client,
    shared_redis_client,
)

log = get_logger(__name__)

LOG_EVERY_SECONDS = 60.0
SKIP_AFTER_FAILURE_SECONDS = 5.0

REJECTED = Counter("dictamesh_graphql_rate_limited",
                   "GraphQL requests refused by the per-key rate limit.", ["tenant"])
UNAVAILABLE = Counter("dictamesh_graphql_rate_limit_unavailable",
                      "GraphQL requests let through unchecked because Redis was unavailable.")

# KEYS[1] the counter; ARGV[1] the window in ms, ARGV[2] the requests to count.
# Returns {count, ms left in the window}.
_HIT = """
local count = redis.call('INCRBY', KEYS[1], ARGV[2])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {count, ttl}
"""

_last_warning = 0.0
_skip_until = 0.0


class RateLimited(Exception):
    """The key has used up its requests for this window (HTTP 429)."""

    code = "RATE_LIMITED"

    def __init__(self, retry_after_seconds: int, limit: int) -> None:
        self.retry_after_seconds = retry_after_seconds
        self.limit = limit
        super().__init__(
            f"Rate limit exceeded: this API key may make {limit} requests per "
            f"{window_seconds()} s. Retry after {retry_after_seconds} s, or ask your "
            "administrator for a higher limit.")

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after_seconds),
                "RateLimit-Limit": str(self.limit), "RateLimit-Remaining": "0",
                "RateLimit-Reset": str(self.retry_after_seconds)}


def window_seconds() -> int:
    return int(settings.GRAPHQL_RATE_LIMIT_WINDOW_SECONDS)


def limit_for(tenant: str) -> int:
    """Requests per window for the tenant's keys: its override, else the platform's."""
    override = tenant_graphql_limits(tenant).get("rate_limit_per_minute")
    if override is not None:
        return int(override)
    return int(settings.GRAPHQL_RATE_LIMIT_PER_MINUTE)


def _default_client() -> redis.Redis:
    timeout = settings.GRAPHQL_RATE_LIMIT_REDIS_TIMEOUT_SECONDS
    # No retries and no idle-connection ping: one bounded round trip per request.
    return shared_redis_client("ratelimit", RedisClientOptions(
        connect_timeout=timeout, read_timeout=timeout, retry=False, health_check_interval=0))


def reset() -> None:
    """Forget the client and any failure back-off (tests; after settings change)."""
    global _skip_until
    forget_shared_redis_client("ratelimit")
    _skip_until = 0.0


def rate_key(principal: Principal) -> str:
    return f"ratelimit:graphql:{principal.tenant}:{principal.key_id}"


def check_rate(principal: Principal, *, weight: int = 1,
               client: redis.Redis | None = None) -> None:
    """Count ``weight`` requests (e.g. the operations of a batch) of the principal's key;
    RateLimited when that takes the key over its limit."""
    global _skip_until
    limit = limit_for(principal.tenant)
    if client is None and time.monotonic() < _skip_until:
        UNAVAILABLE.inc()  # Redis failed moments ago: do not wait for it again yet
        return
    window_ms = window_seconds() * 1000
    try:
        redis_client = client if client is not None else _default_client()
        # A sync client returns the script's reply (redis-py annotates sync | async).
        count, ttl_ms = cast(list[int], redis_client.eval(_HIT, 1, rate_key(principal),
                                                          window_ms, max(1, weight)))
    except (RedisError, OSError):
        if client is None:
            _skip_until = time.monotonic() + SKIP_AFTER_FAILURE_SECONDS
        _fail_open(principal)
        return
    if int(count) > limit:
        REJECTED.labels(tenant=principal.tenant).inc()
        raise RateLimited(retry_after_seconds=max(1, math.ceil(int(ttl_ms) / 1000)),
                          limit=limit)


def _fail_open(principal: Principal) -> None:
    global _last_warning
    UNAVAILABLE.inc()
    now = time.monotonic()
    if now - _last_warning >= LOG_EVERY_SECONDS:  # an outage must not flood the logs
        _last_warning = now
        log.warning("graphql rate limit unavailable: Redis unreachable, failing open",
                    tenant=principal.tenant, key_id=principal.key_id, exc_info=True)


__all__ = ["RateLimited", "check_rate"]
