"""Working past a Redis outage: callers that can answer without Redis (the GraphQL
response cache, the entity cache's L2) skip it for a few seconds after a failure instead
of paying a connection timeout on every request, and count what they bypassed.

The metric ``dictamesh_redis_bypassed_total{component}`` counts the operations done
without Redis; a warning is logged at most once a minute per component.
"""

from __future__ import annotations

import threading
import time

from django_redis.exceptions import ConnectionInterrupted
from prometheus_client import Counter
from redis.exceptions import RedisError

from dictamesh.observability.logging import get_logger

log = get_logger(__name__)

#: what a Redis outage raises through Django's cache (django-redis re-raises the cause)
REDIS_ERRORS = (RedisError, ConnectionInterrupted, OSError)
SKIP_AFTER_FAILURE_SECONDS = 5.0
LOG_EVERY_SECONDS = 60.0

BYPASSED = Counter("dictamesh_redis_bypassed",
                   "Operations done without Redis because it was unavailable, by component.",
                   ["component"])


class RedisOutage:
    """One component's view of Redis' health in this process."""

    def __init__(self, component: str) -> None:
        self.component = component
        self._lock = threading.Lock()
        self._skip_until = 0.0
        self._logged_at = -LOG_EVERY_SECONDS

    def skipping(self) -> bool:
        """True (and counted) while Redis failed moments ago: do not wait on it again."""
        if time.monotonic() < self._skip_until:
            BYPASSED.labels(self.component).inc()
            return True
        return False

    def failed(self, exc: BaseException) -> None:
        """Redis just failed: count the bypass, skip Redis for a while, log now and then."""
        BYPASSED.labels(self.component).inc()
        now = time.monotonic()
        with self._lock:
            self._skip_until = now + SKIP_AFTER_FAILURE_SECONDS
            if now - self._logged_at < LOG_EVERY_SECONDS:
                return
            self._logged_at = now
        log.warning("Redis unavailable: working without it for now", component=self.component,
                    error=repr(exc))

    def reset(self) -> None:
        """Forget the outage (tests; after settings change)."""
        with self._lock:
            self._skip_until = 0.0
            self._logged_at = -LOG_EVERY_SECONDS
