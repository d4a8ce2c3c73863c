"""The circuit breaker against a real HTTP source, its state shared through real Redis."""

from __future__ import annotations

import multiprocessing
import queue
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
import redis
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from prometheus_client import REGISTRY

from apps.adapters.base import SourceAuthError, SourceRateLimited, SourceUnavailable
from dictamesh.resilience import (
    BreakerConfig,
    CircuitOpenError,
    breaker_state,
    build_session,
    get_breaker,
)
from dictamesh.resilience.breaker import SourceBreaker
from tests.resilience.conftest import Reply, fetch

TENANT = "tenant_breaker"
# Tests that wait for the cool-down to end use the short one (a sleep of at least that long
# is always enough); tests that need the circuit to stay open use the long one, which no
# busy machine outlasts between two calls.
COOL_DOWN = 0.5
LONG_COOL_DOWN = 60.0
WAIT_S = 30


def _breaker(connection: str, client: redis.Redis | None = None, fail_max: int = 3,
             tenant: str = TENANT, cool_down: float = COOL_DOWN) -> SourceBreaker:
    """A breaker object of its own, as another process would have."""
    return SourceBreaker(
        tenant, connection, client=client or redis.Redis.from_url(settings.REDIS_URL),
        config=BreakerConfig(fail_max=fail_max, reset_timeout_s=cool_down,
                             probe_timeout_s=WAIT_S))


def _wait_until(predicate: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not predicate():
        assert time.monotonic() < deadline, f"waited {WAIT_S}s for {what}"
        time.sleep(0.01)


def _trip(breaker: SourceBreaker, session, url: str) -> None:
    for _ in range(breaker.fail_max):
        with pytest.raises(SourceUnavailable):
            breaker.call(fetch, session, url)


def test_opens_after_the_failure_threshold_and_then_fails_fast(server, session,
                                                               connection_name):
    server.answer(Reply(status=500))
    breaker = _breaker(connection_name, cool_down=LONG_COOL_DOWN)
    before = datetime.now(tz=UTC)
    for attempt in range(3):
        assert breaker.status().state == "closed", attempt
        with pytest.raises(SourceUnavailable):  # the tripping call shows the source's error
            breaker.call(fetch, session, server.url)
    status = breaker.status()
    assert status.state == "open"
    assert status.opened_at is not None
    # Redis' clock and ours are this machine's: the trip happened between these two reads.
    assert before - timedelta(milliseconds=1) <= status.opened_at <= datetime.now(tz=UTC)

    for _ in range(10):
        with pytest.raises(CircuitOpenError) as info:
            breaker.call(fetch, session, server.url)
    assert server.count == 3  # nothing reached the source while open
    error = info.value
    assert error.code == "CIRCUIT_OPEN"
    assert not error.retryable
    assert not error.probe_in_flight
    assert 0 < error.seconds_until_probe <= LONG_COOL_DOWN
    assert status.next_probe_at is not None
    assert abs((error.next_probe_at - status.next_probe_at).total_seconds()) < 0.01
    assert connection_name in str(error)
    assert "next probe is due" in str(error)


def test_success_resets_the_consecutive_failure_count(server, session, connection_name):
    breaker = _breaker(connection_name)
    server.script(Reply(status=500), Reply(status=500), Reply(), Reply(status=500),
                  Reply(status=500), then=Reply())
    outcomes = []
    for _ in range(6):
        try:
            breaker.call(fetch, session, server.url)
            outcomes.append("ok")
        except SourceUnavailable:
            outcomes.append("failed")
    assert outcomes == ["failed", "failed", "ok", "failed", "failed", "ok"]
    assert breaker.status().state == "closed"


@pytest.mark.parametrize(("reply", "error"), [
    (Reply(status=401), SourceAuthError),
    (Reply(status=429, headers={"Retry-After": "3"}), SourceRateLimited),
])
def test_auth_errors_rate_limits_and_not_found_do_not_count(server, session, connection_name,
                                                            reply, error):
    breaker = _breaker(connection_name)
    server.answer(reply)
    for _ in range(6):
        with pytest.raises(error):
            breaker.call(fetch, session, server.url)
    server.answer(Reply(status=404))
    for _ in range(6):
        assert breaker.call(fetch, session, server.url) is None
    assert breaker.status().state == "closed"
    assert server.count == 12


def test_state_is_shared_by_breaker_objects_on_the_same_redis(server, session,
                                                             connection_name):
    first, second = (_breaker(connection_name, cool_down=LONG_COOL_DOWN),
                     _breaker(connection_name, cool_down=LONG_COOL_DOWN))
    server.answer(Reply(status=500))
    with pytest.raises(SourceUnavailable):
        first.call(fetch, session, server.url)
    with pytest.raises(SourceUnavailable):
        second.call(fetch, session, server.url)
    with pytest.raises(SourceUnavailable):  # the third failure in a row, across both
        first.call(fetch, session, server.url)
    with pytest.raises(CircuitOpenError):
        second.call(fetch, session, server.url)
    assert server.count == 3


def test_a_failed_probe_reopens_the_circuit_for_another_cool_down(server, session,
                                                                 connection_name):
    breaker = _breaker(connection_name)
    server.answer(Reply(status=500))
    _trip(breaker, session, server.url)
    first_opened = breaker.status().opened_at
    assert first_opened is not None
    time.sleep(COOL_DOWN + 0.05)

    with pytest.raises(SourceUnavailable):  # the probe reached the source and failed
        breaker.call(fetch, session, server.url)
    status = breaker.status()
    assert status.state == "open"
    assert status.opened_at is not None
    assert status.opened_at > first_opened
    # The new cool-down counts from the reopening. Another object, with a cool-down no busy
    # machine outlasts, asks: the circuit is still open and the next probe is due then.
    patient = _breaker(connection_name, cool_down=LONG_COOL_DOWN)
    with pytest.raises(CircuitOpenError) as info:
        patient.call(fetch, session, server.url)
    expected_probe = status.opened_at.timestamp() + LONG_COOL_DOWN
    assert info.value.next_probe_at.timestamp() == pytest.approx(expected_probe, abs=0.01)
    assert server.count == 4


def test_after_the_cool_down_one_probe_of_many_threads_goes_through_and_closes_it(
        server, session, connection_name):
    server.answer(Reply(status=500))
    _trip(_breaker(connection_name), session, server.url)
    probe_may_answer = threading.Event()
    # A success held back until every other racer has been refused: the racers overlap
    # the probe however slowly they run.
    server.answer(Reply(hold=probe_may_answer))
    time.sleep(COOL_DOWN + 0.05)
    before = server.count

    racers = 8
    barrier = threading.Barrier(racers)
    results: list[str] = []
    half_open_seen: list[str] = []

    def race() -> None:
        breaker = _breaker(connection_name)  # each thread its own object and client
        own_session = build_session(connect_timeout=1, read_timeout=WAIT_S + 5)
        barrier.wait()
        try:
            breaker.call(fetch, own_session, server.url)
            results.append("probe")
        except CircuitOpenError as exc:
            results.append("in flight" if exc.probe_in_flight else "open")
            half_open_seen.append(breaker.status().state)

    threads = [threading.Thread(target=race) for _ in range(racers)]
    for thread in threads:
        thread.start()
    try:
        _wait_until(lambda: len(results) == racers - 1, "all racers but the probe refused")
    finally:
        probe_may_answer.set()
    for thread in threads:
        thread.join(WAIT_S)

    assert sorted(results) == ["in flight"] * (racers - 1) + ["probe"]
    assert server.count - before == 1
    assert "half_open" in half_open_seen
    assert breaker_state(TENANT, connection_name).state == "closed"
    _breaker(connection_name).call(fetch, session, server.url)  # closed: calls go through
    assert server.count - before == 2


def _race_in_process(connection: str, url: str, barrier, outcomes) -> None:
    # A forked child: its own Redis connection, breaker object and HTTP session.
    breaker = _breaker(connection)
    own_session = build_session(connect_timeout=1, read_timeout=WAIT_S + 5)
    barrier.wait(WAIT_S)
    try:
        breaker.call(fetch, own_session, url)
        outcomes.put("probe")
    except CircuitOpenError:
        outcomes.put("refused")


def test_after_the_cool_down_one_probe_of_several_processes_goes_through(
        server, session, connection_name):
    server.answer(Reply(status=500))
    _trip(_breaker(connection_name), session, server.url)
    probe_may_answer = threading.Event()  # the server runs in this process, in a thread
    server.answer(Reply(hold=probe_may_answer))
    time.sleep(COOL_DOWN + 0.05)
    before = server.count

    context = multiprocessing.get_context("fork")
    processes_count = 3
    barrier = context.Barrier(processes_count)
    outcomes = context.Queue()
    processes = [context.Process(target=_race_in_process,
                                 args=(connection_name, server.url, barrier, outcomes))
                 for _ in range(processes_count)]
    for process in processes:
        process.start()
    results = []
    try:  # the probe is held until the others have been refused
        results += [outcomes.get(timeout=WAIT_S) for _ in range(processes_count - 1)]
    except queue.Empty:
        raise AssertionError(f"only {results} while the probe was held") from None
    finally:
        probe_may_answer.set()
    results = sorted([*results, outcomes.get(timeout=WAIT_S)])
    for process in processes:
        process.join(WAIT_S)

    assert results == ["probe"] + ["refused"] * (processes_count - 1)
    assert server.count - before == 1
    assert breaker_state(TENANT, connection_name).state == "closed"


def test_a_probe_lock_left_by_a_dead_prober_expires(server, session, connection_name,
                                                   redis_client):
    breaker = SourceBreaker(TENANT, connection_name, client=redis_client,
                            config=BreakerConfig(fail_max=1, reset_timeout_s=COOL_DOWN,
                                                 probe_timeout_s=WAIT_S))
    server.answer(Reply(status=500))
    with pytest.raises(SourceUnavailable):
        breaker.call(fetch, session, server.url)
    time.sleep(COOL_DOWN + 0.05)  # past the cool-down
    # A prober that died mid-call: it took the lock and set half-open, then vanished. The
    # lock's expiry is what the breaker's probe_timeout_s would have given it.
    probe_key = f"breaker:{TENANT}:{connection_name}:probe"
    redis_client.set(probe_key, "dead", px=WAIT_S * 1000)
    redis_client.set(f"breaker:{TENANT}:{connection_name}:state", "half-open")
    with pytest.raises(CircuitOpenError) as info:
        breaker.call(fetch, session, server.url)
    assert info.value.probe_in_flight
    redis_client.pexpire(probe_key, 100)  # the dead prober's lock runs out
    _wait_until(lambda: not redis_client.exists(probe_key), "the dead prober's lock to expire")
    server.answer(Reply())
    assert breaker.call(fetch, session, server.url) == {"id": "1", "name": "Ada"}
    assert breaker.status().state == "closed"


def test_keys_are_namespaced_by_tenant_and_connection(server, session, connection_name,
                                                     redis_client):
    server.answer(Reply(status=500))
    _trip(_breaker(connection_name, tenant="tenant_one"), session, server.url)
    assert redis_client.get(f"breaker:tenant_one:{connection_name}:state") == b"open"
    other = _breaker(connection_name, tenant="tenant_two")
    server.answer(Reply())
    assert other.call(fetch, session, server.url) is not None
    assert breaker_state("tenant_two", connection_name).state == "closed"
    assert breaker_state("tenant_one", connection_name).state == "open"


def test_get_breaker_caches_one_object_per_connection_and_reads_settings(
        settings, connection_name):
    settings.BREAKER_FAIL_MAX = 7
    settings.BREAKER_RESET_TIMEOUT_SECONDS = 12.5
    breaker = get_breaker(TENANT, connection_name)
    assert breaker is get_breaker(TENANT, connection_name)
    assert (breaker.fail_max, breaker.reset_timeout) == (7, 12.5)
    assert get_breaker(TENANT, connection_name, fail_max=2).fail_max == 2
    assert get_breaker("other_tenant", connection_name) is not breaker


@pytest.mark.parametrize(("name", "value"), [
    ("BREAKER_FAIL_MAX", 0),
    ("BREAKER_FAIL_MAX", "5"),
    ("BREAKER_FAIL_MAX", 2.5),
    ("BREAKER_RESET_TIMEOUT_SECONDS", -1),
    ("BREAKER_PROBE_TIMEOUT_SECONDS", None),
])
def test_bad_settings_fail_fast_naming_the_setting(settings, connection_name, name, value):
    setattr(settings, name, value)
    with pytest.raises(ImproperlyConfigured, match=name):
        get_breaker(TENANT, connection_name)


def test_bad_arguments_are_refused(connection_name):
    with pytest.raises(ValueError, match="':'"):
        get_breaker("a:b", connection_name)
    with pytest.raises(ValueError, match="decode_responses=False"):
        get_breaker(TENANT, connection_name,
                    redis_client=redis.Redis.from_url(settings.REDIS_URL, decode_responses=True))


def test_state_gauge_and_transition_counter(server, session, connection_name):
    labels = {"tenant": TENANT, "connection": connection_name}

    def transitions(from_state: str, to_state: str) -> float:
        return REGISTRY.get_sample_value("dictamesh_circuit_breaker_transitions_total",
                                         {**labels, "from_state": from_state,
                                          "to_state": to_state}) or 0.0

    breaker = _breaker(connection_name)
    server.answer(Reply(status=500))
    _trip(breaker, session, server.url)
    assert transitions("closed", "open") == 1
    assert REGISTRY.get_sample_value("dictamesh_circuit_breaker_state", labels) == 2
    assert [REGISTRY.get_sample_value("dictamesh_circuit_breaker_status", {
        **labels, "state": state}) for state in ("closed", "half_open", "open")] == [0, 0, 1]
    time.sleep(COOL_DOWN + 0.05)
    server.answer(Reply())
    breaker.call(fetch, session, server.url)
    assert transitions("open", "half_open") == 1
    assert transitions("half_open", "closed") == 1
    assert REGISTRY.get_sample_value("dictamesh_circuit_breaker_state", labels) == 0
