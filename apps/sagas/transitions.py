"""State transitions: the row change, the step log and the ``saga.state_changed`` event,
all in the caller's database transaction (the event goes through the outbox)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from django.utils import timezone

from apps.events.services import OutgoingEvent, publish_events
from apps.sagas.contracts import SagaState, StepOutcome, StepPhase
from apps.sagas.metrics import TRANSITIONS
from apps.sagas.models import SagaInstance, SagaStepLog
from dictamesh.events import SAGA_STATE_CHANGED, load_schema
from dictamesh.tenancy import current_schema

STATE_CHANGED_TOPIC = "system.sagas.state_changed"

# Which states may follow which; anything else is a bug in the engine, refused loudly.
ALLOWED: dict[SagaState | None, frozenset[SagaState]] = {
    None: frozenset({SagaState.PENDING}),
    SagaState.PENDING: frozenset({SagaState.RUNNING, SagaState.COMPENSATING, SagaState.FAILED}),
    SagaState.RUNNING: frozenset({SagaState.COMPLETED, SagaState.COMPENSATING,
                                  SagaState.FAILED, SagaState.NEEDS_ATTENTION}),
    SagaState.COMPENSATING: frozenset({SagaState.COMPENSATED, SagaState.NEEDS_ATTENTION}),
    SagaState.NEEDS_ATTENTION: frozenset({SagaState.RUNNING, SagaState.COMPENSATING,
                                          SagaState.FAILED}),
    SagaState.COMPLETED: frozenset(),
    SagaState.COMPENSATED: frozenset(),
    SagaState.FAILED: frozenset(),
}


def trace_id_of(traceparent: str) -> str | None:
    """The trace id of a W3C traceparent (``00-<trace id>-<span id>-<flags>``)."""
    parts = traceparent.split("-")
    return parts[1] if len(parts) == 4 and len(parts[1]) == 32 else None


def save(saga: SagaInstance) -> None:
    """Write the row, bumping its version (the row is locked by the caller)."""
    saga.version += 1
    saga.save()


def transition(saga: SagaInstance, to: SagaState, step: str | None,
               previous: SagaState | None) -> None:
    """Move ``saga`` to ``to`` and publish the change; the caller saves the row in the same
    transaction (``save``)."""
    if to not in ALLOWED[previous]:
        raise AssertionError(f"saga {saga.id}: {previous} -> {to} is not a transition")
    saga.state = to.value
    TRANSITIONS.labels(saga.definition, to.value).inc()
    publish_events([OutgoingEvent(STATE_CHANGED_TOPIC, str(saga.id),
                                  load_schema(SAGA_STATE_CHANGED), {
        "event_id": str(uuid.uuid4()),
        "timestamp": int(datetime.now(tz=UTC).timestamp() * 1000),
        "tenant": current_schema(), "saga_id": str(saga.id),
        "definition": saga.definition, "definition_version": saga.definition_version,
        "from_state": previous.value if previous else None, "to_state": to.value,
        "step": step, "error": saga.error or None,
        "trace_id": trace_id_of(saga.traceparent),
    })])


def log_attempt(saga: SagaInstance, step: str, phase: StepPhase, started_at: datetime,
                outcome: StepOutcome, error: str = "") -> None:
    """Append the ended attempt to the step log."""
    SagaStepLog.objects.create(saga=saga, step=step, phase=phase.value, attempt=saga.attempt,
                               started_at=started_at, ended_at=timezone.now(),
                               outcome=outcome.value, error=error[:4000])
