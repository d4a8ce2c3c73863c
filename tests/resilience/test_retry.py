"""The retry policy against a real HTTP source that answers 500s and 429s."""

from __future__ import annotations

import time

import pytest

from apps.adapters.base import SourceAuthError, SourceRateLimited, SourceUnavailable
from dictamesh.resilience import BreakerConfig, CircuitOpenError, call_with_retries, retrying
from dictamesh.resilience.breaker import SourceBreaker
from tests.resilience.conftest import Reply, fetch


def retryable(exc: BaseException) -> bool:
    return getattr(exc, "retryable", False)


class RecordingSleep:
    """Really sleeps (so time passes as in production) and remembers each wait."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        time.sleep(seconds)


def test_backs_off_with_jitter_and_stops_at_the_attempt_limit(server, session):
    server.answer(Reply(status=500))
    waits: list[list[float]] = []
    for _ in range(3):
        sleep = RecordingSleep()
        with pytest.raises(SourceUnavailable):
            call_with_retries(lambda: fetch(session, server.url), is_retryable=retryable,
                              max_attempts=5, initial_wait_s=0.01, max_wait_s=1, sleep=sleep)
        waits.append(sleep.waits)
    assert server.count == 15  # 5 attempts, each time
    for run in waits:
        assert len(run) == 4
        # full jitter: wait n is uniform in [0, initial * 2**n]
        assert all(0 <= wait <= 0.01 * 2 ** n for n, wait in enumerate(run, start=1))
    assert len({round(w, 9) for run in waits for w in run}) == 12  # no two alike: jittered


def test_recovers_when_the_source_comes_back(server, session):
    server.script(Reply(status=503), Reply(status=500), then=Reply())
    result = call_with_retries(lambda: fetch(session, server.url), is_retryable=retryable,
                               max_attempts=4, initial_wait_s=0.01)
    assert result == {"id": "1", "name": "Ada"}
    assert server.count == 3


def test_a_429_is_waited_out_not_hammered(server, session):
    server.script(Reply(status=429, headers={"Retry-After": "1"}), then=Reply())
    sleep = RecordingSleep()
    result = call_with_retries(lambda: fetch(session, server.url), is_retryable=retryable,
                               max_attempts=3, initial_wait_s=0.01, max_wait_s=5, sleep=sleep)
    assert result is not None
    first, second = server.received
    assert second.at - first.at >= 1.0
    # At least what was asked, plus a little jitter: the wait chosen, not the time it took.
    assert len(sleep.waits) == 1
    assert 1.0 <= sleep.waits[0] < 1.5


def test_a_429_asking_longer_than_max_wait_is_raised_not_retried_early(server, session):
    server.answer(Reply(status=429, headers={"Retry-After": "30"}))
    sleep = RecordingSleep()
    with pytest.raises(SourceRateLimited) as info:
        call_with_retries(lambda: fetch(session, server.url), is_retryable=retryable,
                          max_attempts=3, max_wait_s=2, sleep=sleep)
    assert info.value.retry_after_seconds == 30
    assert server.count == 1
    assert sleep.waits == []  # raised at once, without waiting any part of the 30 s


def test_non_idempotent_calls_are_not_retried(server, session):
    server.answer(Reply(status=500))
    with pytest.raises(SourceUnavailable):
        call_with_retries(lambda: fetch(session, server.url, method="POST"),
                          is_retryable=retryable, max_attempts=5, idempotent=False)
    assert [r.method for r in server.received] == ["POST"]


def test_errors_the_predicate_rejects_are_not_retried(server, session):
    server.answer(Reply(status=401))
    with pytest.raises(SourceAuthError):
        call_with_retries(lambda: fetch(session, server.url), is_retryable=retryable,
                          max_attempts=5, initial_wait_s=0.01)
    assert server.count == 1


def test_retries_stop_once_the_breaker_opens(server, session, connection_name, redis_client):
    breaker = SourceBreaker("tenant_retry", connection_name, client=redis_client,
                            config=BreakerConfig(fail_max=2, reset_timeout_s=30))
    server.answer(Reply(status=500))
    sleep = RecordingSleep()
    with pytest.raises(CircuitOpenError):
        call_with_retries(lambda: breaker.call(fetch, session, server.url),
                          is_retryable=retryable, max_attempts=6, initial_wait_s=0.01,
                          sleep=sleep)
    assert server.count == 2  # the two failures that opened it; then no more attempts
    assert len(sleep.waits) == 2


def test_the_total_time_budget_bounds_the_retries(server, session):
    attempt_s, budget_s = 0.15, 1.5
    server.answer(Reply(status=500, delay_s=attempt_s))
    sleep = RecordingSleep()
    with pytest.raises(SourceUnavailable):
        call_with_retries(lambda: fetch(session, server.url), is_retryable=retryable,
                          max_attempts=50, initial_wait_s=0.05, max_wait_s=0.1,
                          max_total_s=budget_s, sleep=sleep)
    assert server.count >= 2  # it did retry
    assert len(sleep.waits) == server.count - 1
    # A wait is taken only if it ends within the budget, counted from the first attempt; each
    # attempt before it took at least attempt_s. However slow the machine, this holds:
    assert (server.count - 1) * attempt_s + sum(sleep.waits) < budget_s
    assert server.count < 50  # the budget ended the retries, not the attempt limit


def test_decorator_form(server, session):
    server.script(Reply(status=500), then=Reply())

    @retrying(is_retryable=retryable, max_attempts=2, initial_wait_s=0.01)
    def load(url: str) -> dict | None:
        return fetch(session, url)

    assert load(server.url) == {"id": "1", "name": "Ada"}
    assert server.count == 2


def test_bad_bounds_are_refused():
    with pytest.raises(ValueError, match="max_attempts"):
        call_with_retries(lambda: None, is_retryable=retryable, max_attempts=0)
