"""Per-API-key limits of sockets, counted in Redis so that every ASGI process shares them.

- Open subscriptions (GRAPHQL_WS_MAX_SUBSCRIPTIONS_PER_KEY): a sorted set per key whose
  members are (socket, subscription id) with an expiry as score; a socket refreshes its
  members while it lives, so a process that dies without cleaning up frees its slots
  within GRAPHQL_WS_SLOT_TTL_SECONDS.
- Inbound messages per second (GRAPHQL_WS_MESSAGES_PER_SECOND): a counter per key and
  second, as the HTTP rate limit counts requests per window.

Redis down: both FAIL OPEN, like the HTTP rate limit (apps/federation/ratelimit.py):
authentication and the document limits still hold, and a cache outage does not become an
API outage.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import cast

import redis
from django.conf import settings
from redis.exceptions import RedisError

from apps.federation.auth import Principal
from apps.federation.ratelimit import UNAVAILABLE
from dictamesh.observability.logging import get_logger
from dictamesh.redis_clients import RedisClientOptions, shared_redis_client

log = get_logger(__name__)

# KEYS[1] the key's set; ARGV: now ms, expiry ms, limit, member. 1 if taken, 0 if full.
_ACQUIRE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZSCORE', KEYS[1], ARGV[4]) then
  redis.call('ZADD', KEYS[1], ARGV[2], ARGV[4])
  return 1
end
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[4])
redis.call('PEXPIREAT', KEYS[1], ARGV[2])
return 1
"""
# KEYS[1] the counter of this second. Returns the count so far.
_COUNT = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('PEXPIRE', KEYS[1], 2000) end
return count
"""


def _client() -> redis.Redis:
    timeout = settings.GRAPHQL_RATE_LIMIT_REDIS_TIMEOUT_SECONDS
    return shared_redis_client("graphql-ws", RedisClientOptions(
        connect_timeout=timeout, read_timeout=timeout, retry=False, health_check_interval=0))


def _slots_key(principal: Principal) -> str:
    return f"graphql-ws:subscriptions:{principal.tenant}:{principal.key_id}"


def _expiry_ms() -> int:
    return int((time.time() + settings.GRAPHQL_WS_SLOT_TTL_SECONDS) * 1000)


def _fail_open(what: str, principal: Principal) -> None:
    UNAVAILABLE.inc()
    log.warning("graphql-ws key limit unavailable: Redis unreachable, failing open",
                limit=what, tenant=principal.tenant, key_id=principal.key_id)


def take_slot(principal: Principal, member: str) -> bool:
    """Whether the key may open one more subscription (``member`` names it); taken if so."""
    try:
        taken = _client().eval(
            _ACQUIRE, 1, _slots_key(principal), int(time.time() * 1000), _expiry_ms(),
            settings.GRAPHQL_WS_MAX_SUBSCRIPTIONS_PER_KEY, member)
    except (RedisError, OSError):
        _fail_open("subscriptions", principal)
        return True
    return bool(taken)


def refresh_slots(principal: Principal, members: Iterable[str]) -> None:
    """Keep a live socket's slots from expiring."""
    members = list(members)
    if not members:
        return
    expiry = _expiry_ms()
    try:
        client = _client()
        client.zadd(_slots_key(principal), dict.fromkeys(members, expiry), xx=True)
        client.pexpireat(_slots_key(principal), expiry)
    except (RedisError, OSError):
        _fail_open("subscriptions", principal)


def free_slots(principal: Principal, members: Iterable[str]) -> None:
    members = list(members)
    if not members:
        return
    try:
        _client().zrem(_slots_key(principal), *members)
    except (RedisError, OSError):
        _fail_open("subscriptions", principal)  # the slots expire by themselves


def within_message_rate(principal: Principal) -> bool:
    """Count one inbound message of the key; False once it is over its per-second limit."""
    key = f"graphql-ws:messages:{principal.tenant}:{principal.key_id}:{int(time.time())}"
    try:
        count = cast(int, _client().eval(_COUNT, 1, key))
    except (RedisError, OSError):
        _fail_open("messages", principal)
        return True
    return int(count) <= settings.GRAPHQL_WS_MESSAGES_PER_SECOND
