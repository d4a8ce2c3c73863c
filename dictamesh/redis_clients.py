"""The one way the platform makes Redis clients (the Django cache and Celery make their own).

Every client talks to settings.REDIS_URL with bounded timeouts (settings.REDIS_TIMEOUT_SECONDS
unless the caller needs a shorter one), so a Redis outage costs each caller a known, short
wait. ``new_redis_client`` makes a client the caller owns and closes; ``shared_redis_client``
keeps one client per purpose in this process (its connection pool is thread-safe, and
redis-py makes the pool anew in a forked child), for callers on a hot path.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import redis
from django.conf import settings
from redis.backoff import NoBackoff
from redis.retry import Retry

from dictamesh.env import setting_number

# Idle pooled connections are pinged before reuse after this long, so a connection the
# server or a proxy dropped is noticed before a command is lost on it.
HEALTH_CHECK_INTERVAL_SECONDS = 30


@dataclass(frozen=True)
class RedisClientOptions:
    """How a client waits; None means settings.REDIS_TIMEOUT_SECONDS."""

    connect_timeout: float | None = None
    read_timeout: float | None = None  # longer for a pub/sub listener that blocks on reads
    retry: bool = True  # False: fail at once (redis-py retries with backoff by default)
    health_check_interval: int = HEALTH_CHECK_INTERVAL_SECONDS


def new_redis_client(options: RedisClientOptions | None = None) -> redis.Redis:
    """A new client on settings.REDIS_URL (bytes responses); the caller closes it."""
    options = options or RedisClientOptions()
    default = setting_number("REDIS_TIMEOUT_SECONDS", settings.REDIS_TIMEOUT_SECONDS,
                             minimum=0.001)
    connect_timeout = options.connect_timeout if options.connect_timeout is not None else default
    read_timeout = options.read_timeout if options.read_timeout is not None else connect_timeout
    extra: dict[str, Any] = {} if options.retry else {"retry": Retry(NoBackoff(), 0)}
    return redis.Redis.from_url(
        settings.REDIS_URL, decode_responses=False, socket_connect_timeout=connect_timeout,
        socket_timeout=read_timeout, health_check_interval=options.health_check_interval,
        **extra,
    )


_lock = threading.Lock()
_shared: dict[str, tuple[RedisClientOptions, redis.Redis]] = {}


def shared_redis_client(purpose: str, options: RedisClientOptions | None = None) -> redis.Redis:
    """This process's client for ``purpose`` (e.g. "breaker", "ratelimit"), made on first use.

    Asking with other options than last time makes a new client for the purpose (after a
    settings change in tests); the old one is left to the garbage collector, since other
    threads may still hold it.
    """
    options = options or RedisClientOptions()
    with _lock:
        cached = _shared.get(purpose)
        if cached is None or cached[0] != options:
            cached = (options, new_redis_client(options))
            _shared[purpose] = cached
        return cached[1]


def forget_shared_redis_client(purpose: str) -> None:
    """Drop the client of ``purpose``; the next ``shared_redis_client`` makes a new one
    (tests; after settings.REDIS_URL changed)."""
    with _lock:
        _shared.pop(purpose, None)
