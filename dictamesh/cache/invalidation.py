"""Cross-process L1 invalidation over Redis pub/sub.

``TieredCache.invalidate`` clears L3 and L2 itself, but every process has its own L1. It
therefore publishes ``{schema, type, ids}`` on a channel; each process runs one listener
thread that evicts those entries from the L1 of every TieredCache registered with it.

Pub/sub delivers at most once: a message published while a listener is disconnected is
lost. So when a listener (re)subscribes after having been subscribed before, it empties
the L1 of its caches, and ``l1_ttl_s`` bounds how long a missed message can matter.
"""

from __future__ import annotations

import json
import os
import threading
import weakref
from collections.abc import Sequence
from typing import Any, Protocol

import redis
from django.conf import settings
from redis.exceptions import RedisError

from dictamesh.observability.logging import get_logger
from dictamesh.redis_clients import RedisClientOptions, new_redis_client

log = get_logger(__name__)

CHANNEL_TEMPLATE = "dictamesh:db{db}:cache:l1-invalidate"  # pub/sub ignores the db number
RECONNECT_DELAY_SECONDS = 1.0
POLL_SECONDS = 0.5  # how often the listener checks whether it should stop


class LocalEvictable(Protocol):
    def evict_local(self, schema: str, entity_type: str, ids: Sequence[str]) -> None: ...

    def clear_local(self) -> None: ...


class InvalidationBus:
    """One per process (see get_invalidation_bus); caches register, invalidations publish."""

    def __init__(self, client: redis.Redis, *, channel: str | None = None) -> None:
        db = client.connection_pool.connection_kwargs.get("db", 0)
        self.channel = channel or CHANNEL_TEMPLATE.format(db=db)
        self._client = client
        self._caches: weakref.WeakSet[Any] = weakref.WeakSet()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._subscribed = threading.Event()
        self._thread: threading.Thread | None = None

    def register(self, cache: LocalEvictable) -> None:
        """Evict from ``cache``'s L1 on every message; starts the listener if needed."""
        with self._lock:
            self._caches.add(cache)
        self.start()

    def publish(self, schema: str, entity_type: str, ids: Sequence[str]) -> None:
        message = json.dumps({"schema": schema, "type": entity_type, "ids": list(ids)})
        try:
            self._client.publish(self.channel, message)
        except RedisError:
            # The other processes' L1 copies age out within l1_ttl_s.
            log.error("redis unavailable: L1 invalidation not broadcast", channel=self.channel,
                      entity_type=entity_type, exc_info=True)

    def start(self) -> None:
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="dictamesh-l1-invalidation",
                                            daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        self._subscribed.clear()

    def wait_until_subscribed(self, timeout: float) -> bool:
        """True once the listener is subscribed (messages published before are not seen)."""
        return self._subscribed.wait(timeout)

    # -- the listener thread ---------------------------------------------------------------

    def _run(self) -> None:
        subscribed_before = False
        while not self._stop.is_set():
            pubsub = self._client.pubsub()
            try:
                pubsub.subscribe(self.channel)
                while not self._stop.is_set():
                    message = pubsub.get_message(timeout=POLL_SECONDS)
                    if message is None:
                        continue
                    if message["type"] == "subscribe":
                        # redis-py re-subscribes by itself after a reconnect, so this also
                        # marks the end of a gap in which messages may have been lost.
                        if subscribed_before:
                            self._clear_all()
                        subscribed_before = True
                        self._subscribed.set()
                    elif message["type"] == "message":
                        self._handle(message["data"])
            except (RedisError, OSError):
                self._subscribed.clear()
                log.warning("L1 invalidation listener lost Redis; reconnecting",
                            channel=self.channel, exc_info=True)
                self._stop.wait(RECONNECT_DELAY_SECONDS)
            finally:
                try:
                    pubsub.close()
                except (RedisError, OSError):
                    log.debug("closing the pub/sub connection failed", exc_info=True)

    def _handle(self, data: bytes | str) -> None:
        try:
            message = json.loads(data)
            schema, entity_type, ids = message["schema"], message["type"], message["ids"]
            if not (isinstance(schema, str) and isinstance(entity_type, str)
                    and isinstance(ids, list)):
                raise TypeError("schema and type must be strings, ids a list")
        except (ValueError, KeyError, TypeError) as exc:
            log.error("ignoring a malformed L1 invalidation message", error=str(exc),
                      data=repr(data)[:200])
            return
        for cache in self._registered():
            cache.evict_local(schema, entity_type, [str(i) for i in ids])

    def _clear_all(self) -> None:
        log.info("L1 invalidation listener resubscribed: clearing L1 in case messages were "
                 "missed", channel=self.channel)
        for cache in self._registered():
            cache.clear_local()

    def _registered(self) -> list[LocalEvictable]:
        with self._lock:
            return list(self._caches)


_bus_lock = threading.Lock()
_bus: InvalidationBus | None = None
_bus_pid: int | None = None


def get_invalidation_bus() -> InvalidationBus:
    """This process's bus on settings.REDIS_URL, made anew after a fork (threads do not
    survive fork, so a bus inherited from the parent would never hear anything)."""
    global _bus, _bus_pid
    with _bus_lock:
        if _bus is None or _bus_pid != os.getpid():
            # Reads block while the listener waits for messages: they may take a few polls.
            client = new_redis_client(RedisClientOptions(
                read_timeout=max(settings.REDIS_TIMEOUT_SECONDS, POLL_SECONDS * 4)))
            _bus, _bus_pid = InvalidationBus(client), os.getpid()
        return _bus


def reset_invalidation_bus() -> None:
    """Stop and forget this process's bus (tests)."""
    global _bus, _bus_pid
    with _bus_lock:
        bus, _bus, _bus_pid = _bus, None, None
    if bus is not None:
        bus.stop()
