"""Fault knobs: what a test asks a reference server to do wrong, and the state that needs.

Everything here is deterministic so tests are not flaky: the error rate fails evenly spaced
requests (with 0.5, every second request; over n requests exactly floor(n * rate) fail), and
rate-limit windows are counted per credential from the first request in each window.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

ExtraKnob = Callable[[Any], Any]
"""Validates and normalises a server-specific knob's value; raises ValueError when invalid."""


def as_bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {value!r}")
    return value


def as_int(value: Any, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"expected an integer >= {minimum}, got {value!r}")
    return value


def as_int_list(value: Any) -> list[int]:
    if not isinstance(value, list):
        raise ValueError(f"expected a list of integers, got {value!r}")
    return [as_int(item, minimum=-(2**63)) for item in value]


def _as_number(value: Any, minimum: float, maximum: float = math.inf) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not (
            minimum <= value <= maximum):
        raise ValueError(f"expected a number in [{minimum}, {maximum}], got {value!r}")
    return float(value)


@dataclass(frozen=True)
class RateLimit:
    requests: int
    window_s: float
    retry_after_s: int | None = None

    @classmethod
    def parse(cls, raw: Any) -> RateLimit:
        if not isinstance(raw, dict) or not raw.keys() <= {"requests", "window_s", "retry_after_s"}:
            raise ValueError("rate_limit takes requests, window_s and optionally retry_after_s")
        retry = raw.get("retry_after_s")
        return cls(
            requests=as_int(raw.get("requests"), minimum=1),
            window_s=_as_number(raw.get("window_s"), minimum=0.001),
            retry_after_s=None if retry is None else as_int(retry),
        )


@dataclass(frozen=True)
class Faults:
    latency_ms: int = 0
    error_rate: float = 0.0
    status: int = 500
    rate_limit: RateLimit | None = None
    down: bool = False
    malformed: frozenset[str] = frozenset()
    extras: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, raw: Any, extra_knobs: Mapping[str, ExtraKnob]) -> Faults:
        """Faults from a control request's JSON; raises ValueError naming the bad knob."""
        if not isinstance(raw, dict):
            raise ValueError("faults must be a JSON object")
        common = {"latency_ms", "error_rate", "status", "rate_limit", "down", "malformed"}
        unknown = raw.keys() - common - extra_knobs.keys()
        if unknown:
            known = ", ".join(sorted(common | extra_knobs.keys()))
            raise ValueError(f"unknown fault knob(s) {', '.join(sorted(unknown))}; known: {known}")
        try:
            malformed = raw.get("malformed", [])
            if not isinstance(malformed, list):
                raise ValueError("expected a list of record ids")
            status = as_int(raw.get("status", 500))
            if not 400 <= status <= 599:
                raise ValueError(f"expected an HTTP error status (400-599), got {status}")
            return cls(
                latency_ms=as_int(raw.get("latency_ms", 0)),
                error_rate=_as_number(raw.get("error_rate", 0.0), minimum=0.0, maximum=1.0),
                status=status,
                rate_limit=RateLimit.parse(raw["rate_limit"]) if raw.get("rate_limit") else None,
                down=as_bool(raw.get("down", False)),
                malformed=frozenset(str(key) for key in malformed),
                extras={key: extra_knobs[key](raw[key]) for key in extra_knobs if key in raw},
            )
        except ValueError as exc:
            raise ValueError(f"invalid faults: {exc}") from None

    def to_json(self) -> dict[str, Any]:
        rate_limit = self.rate_limit
        return {
            "latency_ms": self.latency_ms,
            "error_rate": self.error_rate,
            "status": self.status,
            "rate_limit": None if rate_limit is None else {
                "requests": rate_limit.requests, "window_s": rate_limit.window_s,
                "retry_after_s": rate_limit.retry_after_s},
            "down": self.down,
            "malformed": sorted(self.malformed),
            **self.extras,
        }


class FaultState:
    """The active faults plus the counters behind the error rate and the rate limit."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.faults = Faults()
        self._requests_seen = 0
        self._windows: dict[str, tuple[float, int]] = {}

    def configure(self, faults: Faults) -> None:
        with self._lock:
            self.faults = faults
            self._requests_seen = 0
            self._windows.clear()

    # Both checks take the faults the request started under: a request still sleeping out the
    # latency of an earlier configuration must not use up the counts of the current one.

    def should_fail(self, faults: Faults) -> bool:
        """Whether this request is one of the evenly spaced failures of the error rate."""
        rate = Fraction(faults.error_rate).limit_denominator(1_000_000)
        if not rate:
            return False
        with self._lock:
            if faults is not self.faults:
                return False
            self._requests_seen += 1
            seen = self._requests_seen
        return math.floor(seen * rate) > math.floor((seen - 1) * rate)

    def retry_after(self, faults: Faults, credential: str) -> int | None:
        """Seconds to wait when `credential` is over its limit in this window, else None."""
        limit = faults.rate_limit
        if limit is None:
            return None
        now = time.monotonic()
        with self._lock:
            if faults is not self.faults:
                return None
            started, count = self._windows.get(credential, (now, 0))
            if now - started >= limit.window_s:
                started, count = now, 0
            self._windows[credential] = (started, count + 1)
        if count < limit.requests:
            return None
        if limit.retry_after_s is not None:
            return limit.retry_after_s
        return max(1, math.ceil(started + limit.window_s - now))
