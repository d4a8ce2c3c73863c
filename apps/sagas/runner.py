"""Running one step attempt: outside any database transaction, in a span under the trace
of the request that started the saga.

The attempt runs on the worker's own thread: each source call a step makes carries the
step's timeout (the adapters' per-call timeout), which is what bounds it. A step that hangs
anyway outlives its claim's deadline, and recovery runs it again elsewhere under the same
idempotency key (its late result is discarded: the claim is no longer its own).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

import requests
from opentelemetry import propagate, trace

from apps.sagas.contracts import StepOutcome, StepPhase
from apps.sagas.definitions import Step, StepContext
from apps.sagas.metrics import STEP_SECONDS

tracer = trace.get_tracer(__name__)


@dataclass(frozen=True)
class Attempt:
    outcome: StepOutcome
    result: Any = None
    error: str = ""


def traceparent_now() -> str:
    """The current trace context as a W3C traceparent ('' outside any span)."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier.get("traceparent", "")


def run_attempt(definition: str, step: Step, context: StepContext,
                traceparent: str) -> Attempt:
    """Call the step's action or compensation once and classify what happened."""
    fn: Any = step.action if context.phase is StepPhase.ACTION else step.compensation
    assert fn is not None, f"step {step.name} has no {context.phase.value}"
    if context.phase is StepPhase.COMPENSATION and step.name not in context.outputs:
        fn = partial(_replay_then_compensate, step)
    parent = propagate.extract({"traceparent": traceparent}) if traceparent else None
    started = time.perf_counter()
    with tracer.start_as_current_span(f"saga {definition}.{step.name} {context.phase.value}",
                                      context=parent) as span:
        span.set_attributes({"saga.id": context.saga_id, "saga.definition": definition,
                             "saga.step": step.name, "saga.phase": context.phase.value,
                             "saga.idempotency_key": context.idempotency_key})
        attempt = _call(step, fn, context)
        span.set_attribute("saga.outcome", attempt.outcome.value)
        if attempt.outcome is not StepOutcome.SUCCEEDED:
            span.set_status(trace.Status(trace.StatusCode.ERROR, attempt.error[:200]))
    STEP_SECONDS.labels(definition, step.name, context.phase.value,
                        attempt.outcome.value).observe(time.perf_counter() - started)
    return attempt


def _replay_then_compensate(step: Step, context: StepContext) -> Any:
    """Compensate an action whose effect is unknown: re-send it with its own idempotency
    key (the source replays what it did, or does it now), then undo that."""
    action_context = replace(context, phase=StepPhase.ACTION)
    output = step.action(action_context)
    assert step.compensation is not None
    return step.compensation(replace(context, outputs={**context.outputs, step.name: output}))


def _call(step: Step, fn: Any, context: StepContext) -> Attempt:
    try:
        return Attempt(StepOutcome.SUCCEEDED, result=fn(context))
    except Exception as exc:  # noqa: BLE001 - every failure is classified and recorded
        error = f"{type(exc).__name__}: {exc}"
        if not step.policy(context.phase).is_retryable(exc):
            return Attempt(StepOutcome.PERMANENT_ERROR, error=error)
        if _caused_by_timeout(exc):  # the source call's own timeout fired first
            return Attempt(StepOutcome.TIMED_OUT, error=error)
        return Attempt(StepOutcome.RETRYABLE_ERROR, error=error)


def _caused_by_timeout(exc: BaseException | None) -> bool:
    while exc is not None:
        if isinstance(exc, TimeoutError | requests.Timeout):
            return True
        exc = exc.__cause__
    return False
