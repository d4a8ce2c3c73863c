"""What other apps receive from the sagas app: saga and step views, states, errors.

Frozen values only; the behaviour is in ``services.py``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


class SagaState(enum.StrEnum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    COMPENSATING = "COMPENSATING"
    COMPLETED = "COMPLETED"
    COMPENSATED = "COMPENSATED"
    FAILED = "FAILED"
    NEEDS_ATTENTION = "NEEDS_ATTENTION"

    @property
    def is_final(self) -> bool:
        return self in {SagaState.COMPLETED, SagaState.COMPENSATED, SagaState.FAILED}


class StepPhase(enum.StrEnum):
    ACTION = "action"
    COMPENSATION = "compensation"


class StepOutcome(enum.StrEnum):
    SUCCEEDED = "succeeded"
    RETRYABLE_ERROR = "retryable_error"
    PERMANENT_ERROR = "permanent_error"
    TIMED_OUT = "timed_out"  # also: the worker died mid-attempt, found by recovery


@dataclass(frozen=True)
class StepRecord:
    """One attempt of one step, as the append-only step log holds it: a row is appended
    when the attempt ends (or when recovery finds that its worker died)."""

    step: str
    phase: StepPhase
    attempt: int
    started_at: datetime
    ended_at: datetime
    outcome: StepOutcome
    error: str = ""


@dataclass(frozen=True)
class SagaView:
    """A saga instance as operators and API clients see it."""

    id: str  # a UUID, as text
    definition: str
    version: int
    state: SagaState
    current_step: str | None
    attempt: int
    input: dict[str, Any]
    outputs: dict[str, Any]  # step name -> what its action returned
    error: str
    idempotency_key: str | None
    trace_id: str | None
    created_at: datetime
    updated_at: datetime
    deadline: datetime | None
    timeline: tuple[StepRecord, ...] = field(default=())


@dataclass(frozen=True)
class SagaPage:
    """A page of sagas, newest first; ``next_cursor`` is None on the last page."""

    sagas: tuple[SagaView, ...]
    next_cursor: str | None


class SagaError(Exception):
    """A saga operation was refused; the message says why and what to do."""


class SagaNotFound(SagaError):
    """No saga of that id in the current tenant."""


class InvalidSagaInput(SagaError):
    """The input cannot start a saga; ``code`` names the problem for API clients
    (e.g. UNKNOWN_CUSTOMER, UNKNOWN_PRODUCT, BAD_QUANTITY, TOO_MANY_LINES, EMPTY_ITEMS)."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


class SourceUnavailableForSaga(SagaError):
    """A source needed to check the input cannot answer now; nothing was started and the
    same request can be sent again later."""


class IdempotencyConflict(SagaError):
    """The idempotency key was already used to start a saga with other input."""


class InvalidTransition(SagaError):
    """The operator action does not apply to the saga's state (e.g. resuming a completed
    saga); the message names the state and the actions that apply."""
