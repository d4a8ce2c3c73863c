"""Saga definitions: ordered steps, each with an action, a compensation, a retry policy and
a timeout; registered by name and version.

A running saga keeps the version it started with, so a definition that changes gets a new
version and the old one stays registered until no saga of it is left running.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from apps.sagas.contracts import SagaError, StepPhase


@dataclass(frozen=True)
class StepContext:
    """What a step's action or compensation receives."""

    saga_id: str
    step: str
    phase: StepPhase
    input: dict[str, Any]
    outputs: dict[str, Any]  # what the earlier steps' actions returned, by step name

    @property
    def idempotency_key(self) -> str:
        """The same for every attempt of this step and phase of this saga, so a source
        applies a re-run (after a timeout or a crash) once."""
        return f"saga-{self.saga_id}-{self.step}-{self.phase.value}"


StepFn = Callable[[StepContext], Any]


def is_retryable_error(exc: BaseException) -> bool:
    """Retryable unless the error says otherwise: a source's 4xx is not, a timeout or a
    5xx is (adapter errors carry ``retryable``)."""
    return bool(getattr(exc, "retryable", False))


@dataclass(frozen=True)
class RetryPolicy:
    """Attempts in all (the first included), exponential backoff with full jitter."""

    max_attempts: int = 3
    initial_backoff_s: float = 0.2
    max_backoff_s: float = 10.0
    is_retryable: Callable[[BaseException], bool] = is_retryable_error

    def __post_init__(self) -> None:
        if self.max_attempts < 1 or self.initial_backoff_s < 0 or self.max_backoff_s < 0:
            raise ValueError(f"{self}: need max_attempts >= 1 and no negative backoff.")

    def backoff(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based): uniform in
        [0, min(max, initial * 2^attempt)], so workers that failed together spread out."""
        ceiling = min(self.max_backoff_s, self.initial_backoff_s * (2 ** attempt))
        return random.uniform(0, ceiling)  # noqa: S311 - jitter, not security


@dataclass(frozen=True)
class Step:
    """One step. ``timeout_s`` is how long one attempt may run before it is presumed lost
    (its claim's deadline); the step's source calls carry their own, shorter timeouts."""

    name: str
    action: StepFn
    compensation: StepFn | None = None
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    compensation_retry: RetryPolicy = field(default_factory=lambda: RetryPolicy(5))
    timeout_s: float = 10.0

    def policy(self, phase: StepPhase) -> RetryPolicy:
        return self.retry if phase is StepPhase.ACTION else self.compensation_retry


@dataclass(frozen=True)
class SagaDefinition:
    name: str
    version: int
    steps: tuple[Step, ...]
    # Checks and normalises the input before anything is stored; raises InvalidSagaInput.
    validate: Callable[[dict[str, Any]], dict[str, Any]] = lambda saga_input: saga_input

    def __post_init__(self) -> None:
        names = [step.name for step in self.steps]
        if not names or len(set(names)) != len(names):
            raise ValueError(f"Saga {self.name!r} needs steps with distinct names: {names}.")

    @property
    def longest_step_s(self) -> float:
        """The longest one attempt of any step may take, its retry wait included."""
        return max(step.timeout_s + max(step.retry.max_backoff_s,
                                        step.compensation_retry.max_backoff_s)
                   for step in self.steps)


_registry: dict[tuple[str, int], SagaDefinition] = {}


def register(definition: SagaDefinition, *, replace: bool = False) -> SagaDefinition:
    """Register a definition version; registering the same name and version twice with
    other steps is an error (running sagas would change under their feet) unless
    ``replace`` says so (settings changed, as in tests)."""
    key = (definition.name, definition.version)
    known = _registry.get(key)
    if known is not None and known is not definition and not replace:
        raise ValueError(f"Saga definition {definition.name!r} version {definition.version} "
                         "is already registered: give the new one a new version.")
    _registry[key] = definition
    return definition


def get_definition(name: str, version: int | None = None) -> SagaDefinition:
    """The named definition at ``version``, or its latest version."""
    versions = [v for (n, v) in _registry if n == name]
    if not versions:
        known = ", ".join(sorted({n for n, _ in _registry})) or "none"
        raise SagaError(f"No saga definition named {name!r}; known: {known}.")
    chosen = max(versions) if version is None else version
    if (name, chosen) not in _registry:
        raise SagaError(f"Saga definition {name!r} has no version {version}; "
                        f"registered: {sorted(versions)}.")
    return _registry[(name, chosen)]


def all_definitions() -> list[SagaDefinition]:
    return list(_registry.values())
