"""Starting sagas and the operators' actions on them (resume, retry a step, abort)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.sagas.contracts import (
    IdempotencyConflict,
    InvalidTransition,
    SagaState,
    StepOutcome,
    StepPhase,
)
from apps.sagas.definitions import get_definition
from apps.sagas.engine import ACTIVE, current_step_name, grace
from apps.sagas.models import SagaInstance
from apps.sagas.runner import traceparent_now
from apps.sagas.tasks import enqueue_step
from apps.sagas.transitions import log_attempt, save, transition

MAX_IDEMPOTENCY_KEY = 200


def _digest(definition: str, saga_input: dict[str, Any]) -> str:
    canonical = json.dumps([definition, saga_input], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def start(name: str, saga_input: dict[str, Any], idempotency_key: str | None) -> SagaInstance:
    """Validate, persist a PENDING saga with its first event, queue its first step."""
    if idempotency_key is not None and not 0 < len(idempotency_key) <= MAX_IDEMPOTENCY_KEY:
        raise IdempotencyConflict(
            f"An idempotency key has 1 to {MAX_IDEMPOTENCY_KEY} characters; "
            f"got {len(idempotency_key)}.")
    definition = get_definition(name)
    clean = definition.validate(saga_input)
    digest = _digest(name, clean)
    if idempotency_key is not None:
        earlier = _same_key(idempotency_key, digest)
        if earlier is not None:
            return earlier
    saga = SagaInstance(definition=name, definition_version=definition.version, input=clean,
                        idempotency_key=idempotency_key, input_digest=digest,
                        traceparent=traceparent_now(), deadline=timezone.now() + grace())
    try:
        with transaction.atomic():
            transition(saga, SagaState.PENDING, definition.steps[0].name, None)
            saga.save()
            enqueue_step(str(saga.id))
    except IntegrityError:
        # Another request with the same key won the race: answer with its saga.
        earlier = _same_key(idempotency_key or "", digest)
        if earlier is None:
            raise
        return earlier
    return saga


def _same_key(idempotency_key: str, digest: str) -> SagaInstance | None:
    earlier = SagaInstance.objects.filter(idempotency_key=idempotency_key).first()
    if earlier is not None and earlier.input_digest != digest:
        raise IdempotencyConflict(
            f"Idempotency key {idempotency_key!r} already started saga {earlier.id} with "
            "other input; use a new key for a new request.")
    return earlier


def _locked(saga_id: str) -> SagaInstance:
    from apps.sagas.queries import find

    find(saga_id)  # SagaNotFound with a clear message
    return SagaInstance.objects.select_for_update().get(pk=saga_id)


def _refuse(saga: SagaInstance, action: str, applies: str) -> InvalidTransition:
    return InvalidTransition(f"Cannot {action} saga {saga.id}: it is {saga.state}; "
                             f"{action} applies to {applies}.")


def _restart_current_step(saga: SagaInstance) -> None:
    """Run the current step again now, with a fresh attempt budget."""
    previous = SagaState(saga.state)
    step = current_step_name(saga)
    if saga.claim is not None and step is not None:  # its worker is gone: say so in the log
        log_attempt(saga, step, StepPhase(saga.phase), saga.claimed_at or timezone.now(),
                    StepOutcome.TIMED_OUT, "presumed lost past its deadline; an operator "
                    "restarted the step")
    if previous is SagaState.NEEDS_ATTENTION:
        target = (SagaState.COMPENSATING if saga.phase == StepPhase.COMPENSATION
                  else SagaState.RUNNING)
        transition(saga, target, current_step_name(saga), previous)
    saga.attempt, saga.claim, saga.claimed_at, saga.not_before = 0, None, None, None
    saga.deadline = timezone.now() + grace()
    save(saga)
    enqueue_step(str(saga.id))


def resume(saga_id: str) -> SagaInstance:
    with transaction.atomic():
        saga = _locked(saga_id)
        state = SagaState(saga.state)
        stuck = saga.deadline is not None and saga.deadline <= timezone.now()
        if state is not SagaState.NEEDS_ATTENTION and not (
                state in ACTIVE and stuck):
            raise _refuse(saga, "resume", "NEEDS_ATTENTION, or a running saga past its "
                          "step deadline")
        _restart_current_step(saga)
    return saga


def _refuse_while_a_step_runs(saga: SagaInstance, action: str) -> None:
    """An attempt holding its claim inside its deadline is running right now."""
    if saga.claim is not None and saga.deadline and saga.deadline > timezone.now():
        raise InvalidTransition(f"Saga {saga.id}: step {current_step_name(saga)} is "
                                f"running right now; {action} once that attempt ends.")


def retry_step(saga_id: str) -> SagaInstance:
    with transaction.atomic():
        saga = _locked(saga_id)
        if SagaState(saga.state).is_final:
            raise _refuse(saga, "retry a step of", "sagas that have not ended")
        _refuse_while_a_step_runs(saga, "retry it")
        _restart_current_step(saga)
    return saga


def abort(saga_id: str) -> SagaInstance:
    with transaction.atomic():
        saga = _locked(saga_id)
        state = SagaState(saga.state)
        if state.is_final:
            raise _refuse(saga, "abort", "sagas that have not ended")
        _refuse_while_a_step_runs(saga, "abort")
        saga.error = saga.error or "aborted by an operator"
        saga.attempt, saga.claim, saga.claimed_at, saga.not_before = 0, None, None, None
        if saga.phase == StepPhase.ACTION:
            from apps.sagas.engine import start_compensating

            start_compensating(saga)  # undo the completed steps, last first
        elif state is SagaState.NEEDS_ATTENTION:
            transition(saga, SagaState.COMPENSATING, current_step_name(saga), state)
        saga.deadline = timezone.now() + grace() if not SagaState(saga.state).is_final else None
        save(saga)
        if not SagaState(saga.state).is_final:
            enqueue_step(str(saga.id))
    return saga
