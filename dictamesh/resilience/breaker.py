"""Circuit breakers per source connection, their state shared by every process through Redis.

Built on pybreaker (its state machine, exclusion rules, listeners and Redis storage), with
three changes that running many processes and threads against one source needs:

* **One probe across all processes.** pybreaker's half-open state lets *every* caller
  through until the trial call ends, and two processes whose cool-down elapses together both
  switch to half-open and both call. Here the caller that may probe is the one that wins
  ``SET breaker:<tenant>:<connection>:probe <token> NX PX <probe timeout>``; everyone else,
  in any process, fails fast with :class:`CircuitOpenError` until the probe closes the
  circuit (success) or reopens it (failure). If the prober dies, the lock expires after the
  probe timeout and the next caller probes.
* **No process-wide lock around the call.** ``pybreaker.CircuitBreaker.call`` holds the
  breaker's lock while the guarded function runs, which serialises every thread of a
  process that calls the same source. Here the function runs outside any lock; state lives
  in Redis and is read once per call.
* **Sub-second, skew-free cool-down.** pybreaker stores ``opened_at`` as whole epoch seconds
  from the caller's clock, so a 1 s cool-down can end after 0.01 s and hosts with skewed
  clocks disagree. Here ``opened_at`` is the Redis server's time, in microseconds, and the
  cool-down is measured against the same clock.

If Redis is unreachable the breaker behaves as closed (pybreaker's fallback): callers reach
the source and see its errors, which is better than refusing every call.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar, cast

import pybreaker
import redis
from django.conf import settings
from prometheus_client import Counter, Gauge
from redis.exceptions import RedisError

from dictamesh.env import require_number, setting_number
from dictamesh.observability.logging import get_logger
from dictamesh.redis_clients import forget_shared_redis_client, shared_redis_client

log = get_logger(__name__)

T = TypeVar("T")

#: failures in a row (across all processes) that open a closed circuit
DEFAULT_FAIL_MAX = 5
#: seconds an open circuit fails fast before one probe is let through
DEFAULT_RESET_TIMEOUT_SECONDS = 30.0
#: how long the probe lock is held at most; must exceed the source's connect + read timeout,
#: or a slow probe's lock expires and a second probe starts while the first still runs
DEFAULT_PROBE_TIMEOUT_SECONDS = 30.0

BreakerStateName = Literal["closed", "open", "half_open"]
_STATE_NAMES: dict[str, BreakerStateName] = {
    pybreaker.STATE_CLOSED: "closed",
    pybreaker.STATE_OPEN: "open",
    pybreaker.STATE_HALF_OPEN: "half_open",
}
_STATE_GAUGE_VALUES = {"closed": 0, "half_open": 1, "open": 2}

STATE = Gauge(
    "dictamesh_circuit_breaker_state",
    "Circuit state as this process last saw it: 0 closed, 1 half-open, 2 open.",
    ["tenant", "connection"],
)
# The same state as an enum (one series per state, 1 for the current one), which needs no
# legend to read; "mostrecent": under gunicorn, the state a worker saw last.
STATE_ENUM = Gauge(
    "dictamesh_circuit_breaker_status",
    "1 for the circuit's current state (closed, half_open, open), 0 for the others.",
    ["tenant", "connection", "state"], multiprocess_mode="mostrecent",
)
TRANSITIONS = Counter(
    "dictamesh_circuit_breaker_transitions",
    "State changes this process made (each change is counted by the process that made it).",
    ["tenant", "connection", "from_state", "to_state"],
)


class CircuitOpenError(Exception):
    """The source connection's circuit is open: the call was refused without reaching it."""

    code = "CIRCUIT_OPEN"
    retryable = False  # retrying before the next probe only adds load; serve a cached copy

    def __init__(self, tenant: str, connection: str, *, opened_at: datetime | None,
                 next_probe_at: datetime, now: datetime, probe_in_flight: bool = False) -> None:
        self.tenant = tenant
        self.connection = connection
        self.opened_at = opened_at
        self.next_probe_at = next_probe_at
        self.seconds_until_probe = max(0.0, (next_probe_at - now).total_seconds())
        self.probe_in_flight = probe_in_flight
        why = ("a probe call is testing the source now" if probe_in_flight
               else f"the next probe is due at {next_probe_at:%H:%M:%S.%f}"[:-3] + " UTC")
        super().__init__(
            f"Source connection {connection!r} of tenant {tenant!r} is failing; its circuit "
            f"breaker is open, so calls fail fast: {why} "
            f"(in {self.seconds_until_probe:.1f}s). Serve cached data meanwhile, and check "
            "the source's health if this persists."
        )


@dataclass(frozen=True)
class BreakerConfig:
    fail_max: int = DEFAULT_FAIL_MAX
    reset_timeout_s: float = DEFAULT_RESET_TIMEOUT_SECONDS
    probe_timeout_s: float = DEFAULT_PROBE_TIMEOUT_SECONDS

    def __post_init__(self) -> None:
        require_number("fail_max", self.fail_max, minimum=1, integer=True)
        require_number("reset_timeout_s", self.reset_timeout_s, minimum=0.001)
        require_number("probe_timeout_s", self.probe_timeout_s, minimum=0.001)

    @classmethod
    def from_settings(cls) -> BreakerConfig:
        """The configuration from settings; ImproperlyConfigured names a bad setting."""
        return cls(
            fail_max=int(setting_number("BREAKER_FAIL_MAX", settings.BREAKER_FAIL_MAX,
                                        minimum=1, integer=True)),
            reset_timeout_s=setting_number("BREAKER_RESET_TIMEOUT_SECONDS",
                                           settings.BREAKER_RESET_TIMEOUT_SECONDS,
                                           minimum=0.001),
            probe_timeout_s=setting_number("BREAKER_PROBE_TIMEOUT_SECONDS",
                                           settings.BREAKER_PROBE_TIMEOUT_SECONDS,
                                           minimum=0.001),
        )


def counts_as_failure(exc: BaseException) -> bool:
    """The default rule for what trips the breaker: the source is down or broken.

    Errors that mark themselves ``retryable`` (timeouts, connection errors, 5xx — the
    adapters' SourceUnavailable) count. Rate limits do not: the source is up and asked us to
    slow down, which the retry policy does. Auth errors, unknown entities and malformed
    records do not either: the source answered.
    """
    if getattr(exc, "retry_after_seconds", None) is not None:
        return False
    return bool(getattr(exc, "retryable", False))


@dataclass(frozen=True)
class BreakerStatus:
    """A connection's circuit as Redis has it, for health checks and metrics."""

    state: BreakerStateName
    opened_at: datetime | None
    next_probe_at: datetime | None  # when an open circuit lets its probe through
    failures: int  # consecutive failures counted while closed


def _epoch_to_datetime(value: bytes | str | float | None) -> datetime | None:
    if value is None or value == b"":
        return None
    return datetime.fromtimestamp(float(value), tz=UTC)


# redis-py's own annotations give each command the union of its sync and asyncio results;
# a synchronous client returns the value, hence the casts on the commands below.
def _redis_now(client: redis.Redis) -> float:
    seconds, micros = cast(tuple[int, int], client.time())
    return seconds + micros / 1_000_000


def breaker_key(tenant: str, connection: str, field: str) -> str:
    return f"breaker:{tenant}:{connection}:{field}"


# SET opened_at to the Redis server's own time: one clock for every process and host.
_OPEN_NOW = """
local t = redis.call('TIME')
local now = string.format('%d.%06d', t[1], t[2])
redis.call('SET', KEYS[1], now)
return now
"""
# Release the probe lock only if we still own it (it may have expired and been re-taken).
_RELEASE_IF_OWNER = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class _SharedRedisStorage(pybreaker.CircuitRedisStorage):
    """pybreaker's Redis storage under ``breaker:<tenant>:<connection>:*`` keys, with
    ``opened_at`` in Redis server time to the microsecond."""

    def __init__(self, client: redis.Redis, tenant: str, connection: str) -> None:
        self._key_prefix = f"breaker:{tenant}:{connection}"
        self._open_now = client.register_script(_OPEN_NOW)
        super().__init__(pybreaker.STATE_CLOSED, client)

    def _namespace(self, key: str) -> str:
        return f"{self._key_prefix}:{key}"

    def _initialize_redis_state(self, state: str) -> None:
        # pybreaker lets a RedisError escape here, which would make a Redis outage fail
        # every source call at breaker creation; the state is re-initialised on next read.
        try:
            super()._initialize_redis_state(state)
        except RedisError:
            log.warning("redis unavailable: breaker state not initialised",
                        key=self._key_prefix, exc_info=True)

    @property
    def opened_at(self) -> datetime | None:
        try:
            opened_at = cast("bytes | None", self._redis.get(self._namespace("opened_at")))
            return _epoch_to_datetime(opened_at)
        except RedisError:
            log.warning("redis unavailable: opened_at unknown", exc_info=True)
            return None

    @opened_at.setter
    def opened_at(self, now: datetime) -> None:
        # ``now`` is the caller's clock, ignored on purpose: see _OPEN_NOW.
        try:
            self._open_now(keys=[self._namespace("opened_at")])
        except RedisError:
            log.warning("redis unavailable: opened_at not stored", exc_info=True)


def _report_state(tenant: str, connection: str, state: str) -> None:
    STATE.labels(tenant=tenant, connection=connection).set(_STATE_GAUGE_VALUES[state])
    for name in _STATE_GAUGE_VALUES:
        STATE_ENUM.labels(tenant=tenant, connection=connection, state=name).set(
            1 if name == state else 0)


class _MetricsListener(pybreaker.CircuitBreakerListener):
    def __init__(self, tenant: str, connection: str) -> None:
        self._tenant, self._connection = tenant, connection

    def state_change(self, cb: pybreaker.CircuitBreaker,
                     old_state: pybreaker.CircuitBreakerState | None,
                     new_state: pybreaker.CircuitBreakerState) -> None:
        _report_state(self._tenant, self._connection, _STATE_NAMES[new_state.name])


class SourceBreaker(pybreaker.CircuitBreaker):
    """The circuit breaker of one tenant's source connection; get one with get_breaker()."""

    def __init__(self, tenant: str, connection: str, *, client: redis.Redis,
                 config: BreakerConfig,
                 is_failure: Callable[[BaseException], bool] = counts_as_failure) -> None:
        if client.get_encoder().decode_responses:
            raise ValueError("The breaker's Redis client must use decode_responses=False "
                             "(pybreaker's storage decodes the bytes itself).")
        self.tenant, self.connection, self.config = tenant, connection, config
        self.is_failure = is_failure
        self._client = client
        self._probe_key = breaker_key(tenant, connection, "probe")
        self._release = client.register_script(_RELEASE_IF_OWNER)
        super().__init__(
            fail_max=config.fail_max,
            reset_timeout=config.reset_timeout_s,
            success_threshold=1,  # one successful probe closes the circuit
            exclude=[lambda exc: not is_failure(exc)],
            listeners=[_MetricsListener(tenant, connection)],
            state_storage=_SharedRedisStorage(client, tenant, connection),
            name=f"{tenant}/{connection}",
            # The call that trips the circuit re-raises the source's own error; only calls
            # refused without reaching the source raise CircuitOpenError.
            throw_new_error_on_trip=False,
        )
        _report_state(tenant, connection, _STATE_NAMES[self._state.name])

    # -- calling ---------------------------------------------------------------------------

    def call(self, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``func(*args, **kwargs)`` if the circuit lets it through; else CircuitOpenError."""
        state = self.state  # one Redis read; notifies listeners if another process changed it
        if state.name == pybreaker.STATE_CLOSED:
            return state.call(func, *args, **kwargs)
        return self._call_as_probe(func, *args, **kwargs)

    def _call_as_probe(self, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        token = uuid.uuid4().hex
        try:
            self._raise_unless_probe_due()
            if not self._client.set(self._probe_key, token, nx=True,
                                    px=max(1, int(self.config.probe_timeout_s * 1000))):
                raise self._open_error(probe_in_flight=True)
        except RedisError:
            log.warning("redis unavailable: calling the source without the breaker",
                        breaker=self.name, exc_info=True)
            return func(*args, **kwargs)
        try:
            # Re-read under the lock: the probe before ours may have just closed or reopened it.
            state = self.state
            if state.name == pybreaker.STATE_CLOSED:
                return state.call(func, *args, **kwargs)
            self._raise_unless_probe_due()
            self.half_open()
            # pybreaker's half-open state: success closes the circuit, a counted failure
            # reopens it (and restarts the cool-down), an excluded error counts as success.
            # A fresh object, not self._state, which other threads may replace meanwhile.
            probe = self._create_new_state(pybreaker.STATE_HALF_OPEN)
            return probe.call(func, *args, **kwargs)
        finally:
            try:
                self._release(keys=[self._probe_key], args=[token])
            except RedisError:
                log.warning("redis unavailable: probe lock left to expire", breaker=self.name)

    def _raise_unless_probe_due(self) -> None:
        opened_at, now = self._opened_at_and_now()
        if opened_at is not None and now < opened_at + self.reset_timeout:
            raise self._open_error(opened_at=opened_at, now=now)

    def _opened_at_and_now(self) -> tuple[float | None, float]:
        pipe = self._client.pipeline(transaction=False)
        pipe.get(breaker_key(self.tenant, self.connection, "opened_at"))
        pipe.time()
        raw_opened, (seconds, micros) = pipe.execute()
        return (None if raw_opened is None else float(raw_opened)), seconds + micros / 1e6

    def _open_error(self, *, probe_in_flight: bool = False, opened_at: float | None = None,
                    now: float | None = None) -> CircuitOpenError:
        if now is None:
            opened_at, now = self._opened_at_and_now()
        if probe_in_flight:
            # At the latest, the probe lock expires; usually the probe ends much sooner.
            probe_ttl_ms = cast(int, self._client.pttl(self._probe_key))
            next_probe = now + max(0.0, probe_ttl_ms / 1000)
        else:
            next_probe = (opened_at or now) + self.reset_timeout
        return CircuitOpenError(
            self.tenant, self.connection, opened_at=_epoch_to_datetime(opened_at),
            next_probe_at=datetime.fromtimestamp(next_probe, tz=UTC),
            now=datetime.fromtimestamp(now, tz=UTC), probe_in_flight=probe_in_flight)

    # -- transitions: counted and logged by the process that makes them -------------------

    def open(self) -> bool:
        previous = self._state.name
        result = super().open()
        self._transitioned(previous, pybreaker.STATE_OPEN)
        if previous != pybreaker.STATE_OPEN:
            log.warning("circuit opened: calls fail fast until a probe succeeds",
                        tenant=self.tenant, connection=self.connection,
                        reset_timeout_s=self.reset_timeout)
        return result

    def half_open(self) -> None:
        previous = self._state.name
        super().half_open()
        self._transitioned(previous, pybreaker.STATE_HALF_OPEN)

    def close(self) -> None:
        previous = self._state.name
        super().close()
        self._transitioned(previous, pybreaker.STATE_CLOSED)
        if previous != pybreaker.STATE_CLOSED:
            log.info("circuit closed: the probe succeeded", tenant=self.tenant,
                     connection=self.connection)

    def _transitioned(self, previous: str, new: str) -> None:
        if previous == new:  # another thread of this process got there first
            return
        TRANSITIONS.labels(tenant=self.tenant, connection=self.connection,
                           from_state=_STATE_NAMES[previous], to_state=_STATE_NAMES[new]).inc()

    def status(self) -> BreakerStatus:
        return read_status(self._client, self.tenant, self.connection, self.reset_timeout)


def read_status(client: redis.Redis, tenant: str, connection: str,
                reset_timeout_s: float) -> BreakerStatus:
    pipe = client.pipeline(transaction=False)
    for field in ("state", "opened_at", "fail_counter"):
        pipe.get(breaker_key(tenant, connection, field))
    pipe.exists(breaker_key(tenant, connection, "probe"))
    raw_state, raw_opened, raw_failures, probing = pipe.execute()
    state = _STATE_NAMES.get((raw_state or b"closed").decode(), "closed")
    if state == "open" and probing:  # the prober holds the lock but has not yet said so
        state = "half_open"
    opened_at = _epoch_to_datetime(raw_opened)
    next_probe_at = None
    if state != "closed" and opened_at is not None:
        next_probe_at = datetime.fromtimestamp(opened_at.timestamp() + reset_timeout_s, tz=UTC)
    return BreakerStatus(state=state, opened_at=opened_at if state != "closed" else None,
                         next_probe_at=next_probe_at, failures=int(raw_failures or 0))


# -- the per-process registry --------------------------------------------------------------

_registry_lock = threading.Lock()
_breakers: dict[tuple[str, str], SourceBreaker] = {}


def default_redis_client() -> redis.Redis:
    """This process's client for breaker state (settings.REDIS_URL, bytes responses)."""
    return shared_redis_client("breaker")


def get_breaker(tenant: str, connection_name: str, *, fail_max: int | None = None,
                reset_timeout_s: float | None = None, probe_timeout_s: float | None = None,
                is_failure: Callable[[BaseException], bool] = counts_as_failure,
                redis_client: redis.Redis | None = None) -> SourceBreaker:
    """The breaker of ``tenant``'s connection ``connection_name``, cached in this process.

    Thresholds default to settings (BREAKER_FAIL_MAX, BREAKER_RESET_TIMEOUT_SECONDS,
    BREAKER_PROBE_TIMEOUT_SECONDS). Asking again with a different configuration replaces
    the cached object (the state, in Redis, is kept); pass a module-level ``is_failure``
    function, not a fresh lambda, or every call builds a new breaker object.
    """
    if not tenant or not connection_name or ":" in tenant + connection_name:
        raise ValueError(f"tenant={tenant!r}, connection_name={connection_name!r}: both are "
                         "required and may not contain ':' (it separates the Redis key parts).")
    defaults = BreakerConfig.from_settings()
    config = BreakerConfig(
        fail_max=defaults.fail_max if fail_max is None else fail_max,
        reset_timeout_s=defaults.reset_timeout_s if reset_timeout_s is None else reset_timeout_s,
        probe_timeout_s=defaults.probe_timeout_s if probe_timeout_s is None else probe_timeout_s,
    )
    client = redis_client or default_redis_client()
    key = (tenant, connection_name)
    with _registry_lock:
        breaker = _breakers.get(key)
        if (breaker is None or breaker.config != config or breaker.is_failure is not is_failure
                or breaker._client is not client):
            breaker = SourceBreaker(tenant, connection_name, client=client, config=config,
                                    is_failure=is_failure)
            _breakers[key] = breaker
        return breaker


def breaker_state(tenant: str, connection_name: str, *,
                  redis_client: redis.Redis | None = None,
                  reset_timeout_s: float | None = None) -> BreakerStatus:
    """The connection's circuit as all processes see it (reads Redis; no breaker needed)."""
    timeout = (BreakerConfig.from_settings().reset_timeout_s if reset_timeout_s is None
               else reset_timeout_s)
    return read_status(redis_client or default_redis_client(), tenant, connection_name, timeout)


def reset_breakers() -> None:
    """Forget this process's breaker objects and Redis client (tests; after settings change).

    The state in Redis is untouched.
    """
    with _registry_lock:
        _breakers.clear()
    forget_shared_redis_client("breaker")
