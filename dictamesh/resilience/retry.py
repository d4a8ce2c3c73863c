"""The retry policy for source calls: idempotent reads only, jittered, bounded, polite.

* Waits grow exponentially with full jitter (tenacity's ``wait_random_exponential``), so the
  processes that saw the same failure do not come back in lock-step.
* Attempts and total time are both bounded; a wait that would overrun the time budget is
  not started.
* Only errors the caller's predicate calls retryable are retried. An open circuit never is:
  its error is raised at once, so retries stop as soon as the breaker trips.
* A rate limit (any error with ``retry_after_seconds``) is waited out: at least that long,
  plus a little jitter. When the source asks for longer than ``max_wait_s`` the error is
  raised instead — retrying sooner than asked would only be refused again.
* Non-idempotent calls (``idempotent=False``) run once: a retried write may apply twice.
"""

from __future__ import annotations

import functools
import random
import time
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_before_delay,
    wait_random_exponential,
)

from dictamesh.observability.logging import get_logger
from dictamesh.resilience.breaker import CircuitOpenError

log = get_logger(__name__)

T = TypeVar("T")
P = ParamSpec("P")

#: attempts in all, the first included
DEFAULT_MAX_ATTEMPTS = 3
#: the longest single wait between attempts, seconds
DEFAULT_MAX_WAIT_SECONDS = 10.0
#: the whole call, attempts and waits together, may not start a wait that ends later
DEFAULT_MAX_TOTAL_SECONDS = 30.0
#: the first wait is uniform in [0, 2 * this]; each further one doubles the range
DEFAULT_INITIAL_WAIT_SECONDS = 0.1
#: extra wait after a Retry-After, as a fraction of it, so clients do not return together
RETRY_AFTER_JITTER = 0.1


def retry_after(exc: BaseException | None) -> float | None:
    """The wait a rate-limit error asks for, if ``exc`` is one."""
    value = getattr(exc, "retry_after_seconds", None)
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return float(value)
    return None


def call_with_retries(fn: Callable[[], T], *, is_retryable: Callable[[BaseException], bool],
                      max_attempts: int = DEFAULT_MAX_ATTEMPTS,
                      max_wait_s: float = DEFAULT_MAX_WAIT_SECONDS,
                      max_total_s: float = DEFAULT_MAX_TOTAL_SECONDS,
                      initial_wait_s: float = DEFAULT_INITIAL_WAIT_SECONDS,
                      idempotent: bool = True,
                      sleep: Callable[[float], None] = time.sleep) -> T:
    """``fn()``, retried on retryable errors; the last error is raised when retries end.

    ``is_retryable`` decides per error, e.g. ``lambda e: getattr(e, "retryable", False)``.
    ``sleep`` is injectable so tests can record the waits.
    """
    if max_attempts < 1 or max_wait_s < 0 or max_total_s <= 0 or initial_wait_s < 0:
        raise ValueError(
            f"max_attempts={max_attempts}, max_wait_s={max_wait_s}, max_total_s={max_total_s}, "
            f"initial_wait_s={initial_wait_s}: need max_attempts >= 1, max_total_s > 0 and "
            "no negative wait.")
    if not idempotent or max_attempts == 1:
        return fn()

    def should_retry(exc: BaseException) -> bool:
        if isinstance(exc, CircuitOpenError) or not is_retryable(exc):
            return False
        asked = retry_after(exc)
        if asked is not None and asked > max_wait_s:
            log.warning("rate limited for longer than max_wait_s: not retrying",
                        retry_after_s=asked, max_wait_s=max_wait_s)
            return False
        return True

    backoff = wait_random_exponential(multiplier=initial_wait_s, max=max_wait_s)

    def wait(state: RetryCallState) -> float:
        seconds = backoff(state)
        asked = retry_after(state.outcome.exception() if state.outcome else None)
        if asked is not None:  # at least what the source asked for, never more than max
            seconds = min(max(seconds, asked + random.uniform(0, asked * RETRY_AFTER_JITTER)),  # noqa: S311
                          max(asked, max_wait_s))
        return seconds

    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        log.info("retrying source call", attempt=state.attempt_number,
                 wait_s=round(state.upcoming_sleep, 3), error=repr(exc))

    retrying = Retrying(
        retry=retry_if_exception(should_retry),
        stop=stop_after_attempt(max_attempts) | stop_before_delay(max_total_s),
        wait=wait,
        sleep=sleep,
        before_sleep=before_sleep,
        reraise=True,
    )
    return retrying(fn)


def retrying(*, is_retryable: Callable[[BaseException], bool],
             max_attempts: int = DEFAULT_MAX_ATTEMPTS,
             max_wait_s: float = DEFAULT_MAX_WAIT_SECONDS,
             max_total_s: float = DEFAULT_MAX_TOTAL_SECONDS,
             initial_wait_s: float = DEFAULT_INITIAL_WAIT_SECONDS,
             idempotent: bool = True,
             sleep: Callable[[float], None] = time.sleep,
             ) -> Callable[[Callable[P, T]], Callable[P, T]]:
    """call_with_retries as a decorator, for functions that are idempotent reads."""

    def decorate(fn: Callable[P, T]) -> Callable[P, T]:
        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
            return call_with_retries(
                lambda: fn(*args, **kwargs), is_retryable=is_retryable,
                max_attempts=max_attempts, max_wait_s=max_wait_s, max_total_s=max_total_s,
                initial_wait_s=initial_wait_s, idempotent=idempotent, sleep=sleep)

        return wrapper

    return decorate
