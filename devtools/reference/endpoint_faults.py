"""Fault knobs per write endpoint: what a saga test asks one named write to do wrong.

The server-wide knobs (`faults.py`) hit every request alike; a saga test needs one step's
source call to misbehave while the others work. Each write route has a name (the adapter
command it serves: `reserve_stock`, `charge_invoice`, ...) and these knobs:

    fail_next: N             the next N calls answer `status` without doing anything
    fail_always: true        every call does
    status: 503              the failing status (400-599; default 503)
    delay_ms: 2000           wait this long before handling the call ...
    delay_next: N            ... for the next N calls only (absent: every call)
    drop_answer_next: N      the next N calls are applied, then the connection is closed
                             without an answer ("commit then drop the answer": only an
                             idempotency key makes the client's retry safe)
    drop_answer_always: true every call is
    hold_answer_ms: 30000    apply the call, then wait this long before answering ...
    hold_answer_next: N      ... for the next N calls only (absent: every call); a test
                             kills the caller meanwhile: the write is done, the caller
                             never learnt it (a crash after the source committed)

Counts run down as calls use them; a call that fails is not applied, so it uses no drop
and no hold.
"""

from __future__ import annotations

import threading
from collections.abc import Collection
from dataclasses import asdict, dataclass, replace
from typing import Any

from devtools.reference.faults import as_bool, as_int

_KNOBS = ("fail_next", "fail_always", "status", "delay_ms", "delay_next", "drop_answer_next",
          "drop_answer_always", "hold_answer_ms", "hold_answer_next")


@dataclass(frozen=True)
class EndpointKnobs:
    fail_next: int = 0
    fail_always: bool = False
    status: int = 503
    delay_ms: int = 0
    delay_next: int | None = None  # None: every call is delayed
    drop_answer_next: int = 0
    drop_answer_always: bool = False
    hold_answer_ms: int = 0
    hold_answer_next: int | None = None  # None: every applied call is held

    @classmethod
    def parse(cls, endpoint: str, raw: Any) -> EndpointKnobs:
        """The knobs of one endpoint from control JSON; ValueError naming the bad one."""
        if not isinstance(raw, dict):
            raise ValueError(f"{endpoint}: expected an object of knobs ({', '.join(_KNOBS)})")
        unknown = sorted(raw.keys() - set(_KNOBS))
        if unknown:
            raise ValueError(f"{endpoint}: unknown knob(s) {', '.join(unknown)}; known: "
                             f"{', '.join(_KNOBS)}")
        try:
            status = as_int(raw.get("status", 503))
            if not 400 <= status <= 599:
                raise ValueError(f"status must be an HTTP error status (400-599), got {status}")
            delay_next = raw.get("delay_next")
            hold_next = raw.get("hold_answer_next")
            return cls(
                fail_next=as_int(raw.get("fail_next", 0)),
                fail_always=as_bool(raw.get("fail_always", False)),
                status=status,
                delay_ms=as_int(raw.get("delay_ms", 0)),
                delay_next=None if delay_next is None else as_int(delay_next, minimum=1),
                drop_answer_next=as_int(raw.get("drop_answer_next", 0)),
                drop_answer_always=as_bool(raw.get("drop_answer_always", False)),
                hold_answer_ms=as_int(raw.get("hold_answer_ms", 0)),
                hold_answer_next=None if hold_next is None else as_int(hold_next, minimum=1),
            )
        except ValueError as exc:
            raise ValueError(f"{endpoint}: {exc}") from None

    @property
    def fails(self) -> bool:
        return self.fail_always or self.fail_next > 0

    @property
    def delays(self) -> bool:
        return self.delay_ms > 0 and (self.delay_next is None or self.delay_next > 0)

    @property
    def drops(self) -> bool:
        return self.drop_answer_always or self.drop_answer_next > 0

    @property
    def holds(self) -> bool:
        return self.hold_answer_ms > 0 and (self.hold_answer_next is None
                                            or self.hold_answer_next > 0)


@dataclass(frozen=True)
class CallPlan:
    """What the knobs make of one call."""

    delay_s: float = 0.0
    fail_status: int | None = None  # answer this instead of handling the call
    drop_answer: bool = False  # handle the call, then close without an answer
    hold_answer_s: float = 0.0  # handle the call, then wait this long before answering


class EndpointFaults:
    """The knobs of every named write endpoint of one server, and their remaining counts."""

    def __init__(self, endpoints: Collection[str]) -> None:
        self.endpoints = frozenset(endpoints)
        self._lock = threading.Lock()
        self._knobs: dict[str, EndpointKnobs] = {}

    def configure(self, raw: Any) -> None:
        """Replace every endpoint's knobs with `raw` ({endpoint: knobs}); {} clears them."""
        if not isinstance(raw, dict):
            raise ValueError("endpoint faults must be a JSON object {endpoint: knobs}")
        unknown = sorted(raw.keys() - self.endpoints)
        if unknown:
            raise ValueError(f"unknown endpoint(s) {', '.join(unknown)}; this server's write "
                             f"endpoints: {', '.join(sorted(self.endpoints))}")
        knobs = {name: EndpointKnobs.parse(name, value) for name, value in raw.items()}
        with self._lock:
            self._knobs = knobs

    def clear(self) -> None:
        with self._lock:
            self._knobs = {}

    def plan(self, endpoint: str) -> CallPlan:
        """What to do with one call of `endpoint`, using up the counts it takes."""
        with self._lock:
            knobs = self._knobs.get(endpoint)
            if knobs is None:
                return CallPlan()
            delay_s = knobs.delay_ms / 1000 if knobs.delays else 0.0
            if knobs.delays and knobs.delay_next is not None:
                knobs = replace(knobs, delay_next=knobs.delay_next - 1)
            fail_status = knobs.status if knobs.fails else None
            drop = fail_status is None and knobs.drops
            hold = fail_status is None and knobs.holds
            knobs = replace(knobs,
                            fail_next=max(0, knobs.fail_next - (fail_status is not None)),
                            drop_answer_next=max(0, knobs.drop_answer_next - drop))
            if hold and knobs.hold_answer_next is not None:
                knobs = replace(knobs, hold_answer_next=knobs.hold_answer_next - 1)
            self._knobs[endpoint] = knobs
        return CallPlan(delay_s, fail_status, drop,
                        knobs.hold_answer_ms / 1000 if hold else 0.0)

    def to_json(self) -> dict[str, Any]:
        """Every endpoint's knobs as they stand (counts already used are gone)."""
        with self._lock:
            return {"endpoints": sorted(self.endpoints),
                    "faults": {name: asdict(knobs) for name, knobs in self._knobs.items()}}
