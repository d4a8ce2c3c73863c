"""Resilience around every source call: circuit breakers shared through Redis, a polite retry
policy for idempotent reads, and HTTP sessions that never wait forever.

Typical use in an adapter service (the breaker inside the retries, so an open circuit stops
the retries at once)::

    breaker = get_breaker(tenant, connection.name)
    call_with_retries(lambda: breaker.call(adapter.query_entities, type_, query),
                      is_retryable=lambda e: getattr(e, "retryable", False))
"""

from dictamesh.resilience.breaker import (
    BreakerConfig,
    BreakerStateName,
    BreakerStatus,
    CircuitOpenError,
    SourceBreaker,
    breaker_state,
    counts_as_failure,
    get_breaker,
    reset_breakers,
)
from dictamesh.resilience.http import build_session, parse_retry_after
from dictamesh.resilience.retry import call_with_retries, retrying

__all__ = [
    "BreakerConfig",
    "BreakerStateName",
    "BreakerStatus",
    "CircuitOpenError",
    "SourceBreaker",
    "breaker_state",
    "build_session",
    "call_with_retries",
    "counts_as_failure",
    "get_breaker",
    "parse_retry_after",
    "reset_breakers",
    "retrying",
]
