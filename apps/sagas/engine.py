"""The saga state machine: claim a step, run it outside any transaction, record the end.

One step attempt is three moves:
1. claim (locked row): PENDING -> RUNNING on the first step; the attempt is counted and a
   claim with a deadline is stamped, so no second worker runs the step meanwhile;
2. run the source call with the step's timeout (``runner.py``), no transaction open;
3. finish (locked row, claim checked): log the attempt, then advance, schedule a retry,
   start compensating, end, or park in NEEDS_ATTENTION.

A worker that dies between 1 and 3 leaves a claim past its deadline: the next ``run_step``
(from the recovery sweep) logs that attempt as TIMED_OUT and goes on as after a timeout.
``run_step`` returns the delay before the saga's next ``run_step``, or None when nothing is
left to schedule; the Celery task (``tasks.py``) does the scheduling.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.sagas.contracts import SagaState, StepOutcome, StepPhase
from apps.sagas.definitions import SagaDefinition, Step, StepContext, get_definition
from apps.sagas.metrics import COMPENSATIONS
from apps.sagas.models import SagaInstance
from apps.sagas.runner import Attempt, run_attempt
from apps.sagas.transitions import log_attempt, save, transition
from dictamesh.observability.logging import get_logger

log = get_logger(__name__)

# In ``outputs``: the index of a step whose action failed without proof of no effect.
UNSURE = "_unsure_step"

ACTIVE = (SagaState.PENDING, SagaState.RUNNING, SagaState.COMPENSATING)


@dataclass(frozen=True)
class Claimed:
    saga_id: str
    claim: uuid.UUID
    started_at: datetime
    definition: SagaDefinition
    step: Step
    context: StepContext
    traceparent: str


def definition_of(saga: SagaInstance) -> SagaDefinition:
    return get_definition(saga.definition, saga.definition_version)


def current_step_name(saga: SagaInstance) -> str | None:
    steps = definition_of(saga).steps
    if SagaState(saga.state).is_final or not 0 <= saga.step_index < len(steps):
        return None
    return steps[saga.step_index].name


def grace() -> timedelta:
    return timedelta(seconds=settings.SAGA_STEP_GRACE_SECONDS)


def run_step(saga_id: str, *, follow: bool = False) -> float | None:
    """Run the saga's current step once (if it is due and nobody else runs it); with
    ``follow``, go on with the steps that are due at once, each next claim stamped in the
    transaction that records the previous step's end (one transaction per step)."""
    claimed = claim(saga_id)
    while isinstance(claimed, Claimed):
        attempt = run_attempt(claimed.definition.name, claimed.step, claimed.context,
                              claimed.traceparent)
        claimed = finish(claimed, attempt, claim_next=follow)
    return claimed


def claim(saga_id: str) -> Claimed | float | None:
    """Stamp a claim on the current step; else the delay until it is due, or None."""
    with transaction.atomic():
        saga = SagaInstance.objects.select_for_update().filter(pk=saga_id).first()
        if saga is None or SagaState(saga.state) not in ACTIVE:
            return None
        now = timezone.now()
        if saga.claim is not None:
            if saga.deadline and saga.deadline > now:
                return None  # another worker runs this step right now
            _record_lost_attempt(saga)
            if SagaState(saga.state) not in ACTIVE or (saga.not_before and
                                                       saga.not_before > now):
                save(saga)
                return _next_delay(saga)
        if saga.not_before and saga.not_before > now:
            return None  # an early duplicate: the retry's own message comes at its time
        return _stamp_claim(saga, now)


def _stamp_claim(saga: SagaInstance, now: datetime) -> Claimed:
    definition = definition_of(saga)
    step = definition.steps[saga.step_index]
    if saga.state == SagaState.PENDING:
        transition(saga, SagaState.RUNNING, step.name, SagaState.PENDING)
    saga.attempt += 1
    saga.claim, saga.claimed_at, saga.not_before = uuid.uuid4(), now, None
    saga.deadline = now + timedelta(seconds=step.timeout_s) + grace()
    save(saga)
    phase = StepPhase(saga.phase)
    return Claimed(str(saga.id), saga.claim, now, definition, step,
                   StepContext(str(saga.id), step.name, phase, dict(saga.input),
                               dict(saga.outputs)), saga.traceparent)


def _record_lost_attempt(saga: SagaInstance) -> None:
    """The claimed attempt passed its deadline without finishing: its worker died or hung."""
    step = definition_of(saga).steps[saga.step_index]
    saga.claim = None
    error = "the step's worker stopped answering before the deadline (crash or hang)"
    log_attempt(saga, step.name, StepPhase(saga.phase), saga.claimed_at or timezone.now(),
                StepOutcome.TIMED_OUT, error)
    log.warning("saga step attempt lost", saga=str(saga.id), step=step.name,
                attempt=saga.attempt)
    _after_failure(saga, step, Attempt(StepOutcome.TIMED_OUT, error=error))


def finish(claimed: Claimed, attempt: Attempt, *,
           claim_next: bool = False) -> Claimed | float | None:
    """Record the attempt and move the saga on; the delay before its next run_step, or
    with ``claim_next`` the claim of its next step when that is due at once."""
    with transaction.atomic():
        saga = SagaInstance.objects.select_for_update().get(pk=claimed.saga_id)
        if saga.claim != claimed.claim:
            # Recovery declared this attempt lost and someone ran the step again; its
            # idempotency key made both runs one effect, and the other run records it.
            log.warning("saga step finished after losing its claim", saga=claimed.saga_id,
                        step=claimed.step.name)
            return None
        log_attempt(saga, claimed.step.name, claimed.context.phase, claimed.started_at,
                    attempt.outcome, attempt.error)
        saga.claim = saga.claimed_at = None
        if attempt.outcome is StepOutcome.SUCCEEDED:
            _after_success(saga, claimed.step, attempt.result)
        else:
            _after_failure(saga, claimed.step, attempt)
        delay = _next_delay(saga)
        if claim_next and delay == 0.0:
            return _stamp_claim(saga, timezone.now())  # saves the row once for both
        save(saga)
        return delay


def _next_delay(saga: SagaInstance) -> float | None:
    if SagaState(saga.state) not in ACTIVE:
        return None
    if saga.not_before is None:
        return 0.0
    return max(0.0, (saga.not_before - timezone.now()).total_seconds())


def _after_success(saga: SagaInstance, step: Step, result: Any) -> None:
    saga.attempt = 0
    if saga.phase == StepPhase.ACTION:
        saga.error = ""  # a retried step that succeeded leaves no error behind
        saga.outputs = {**saga.outputs, step.name: result}
        saga.step_index += 1
        steps = definition_of(saga).steps
        if saga.step_index == len(steps):
            saga.deadline = None
            transition(saga, SagaState.COMPLETED, None, SagaState.RUNNING)
        else:
            saga.deadline = timezone.now() + grace()
        return
    COMPENSATIONS.labels(saga.definition, step.name).inc()
    _compensate_from(saga, saga.step_index - 1)


def _after_failure(saga: SagaInstance, step: Step, attempt: Attempt) -> None:
    """Retry per the step's policy, else compensate (or park if compensating fails)."""
    phase = StepPhase(saga.phase)
    policy = step.policy(phase)
    retryable = attempt.outcome in (StepOutcome.RETRYABLE_ERROR, StepOutcome.TIMED_OUT)
    saga.error = f"{step.name} ({phase.value}, attempt {saga.attempt}): {attempt.error}"
    if retryable and saga.attempt < policy.max_attempts:
        wait = timedelta(seconds=policy.backoff(saga.attempt))
        saga.not_before = timezone.now() + wait
        saga.deadline = saga.not_before + grace()
        return
    saga.attempt = 0
    if phase is StepPhase.COMPENSATION:
        saga.deadline = None
        transition(saga, SagaState.NEEDS_ATTENTION, step.name, SagaState.COMPENSATING)
        log.error("saga compensation keeps failing", saga=str(saga.id), error=saga.error)
        return
    start_compensating(saga, unsure=attempt.outcome is not StepOutcome.PERMANENT_ERROR)


def start_compensating(saga: SagaInstance, unsure: bool = False) -> None:
    """The action at ``step_index`` failed for good: undo the completed steps, last first.

    ``unsure``: the failed action timed out or kept failing in ways that do not prove it
    had no effect (an answer lost after the source committed); its compensation runs too,
    first replaying the action with its idempotency key to learn what it did.
    """
    previous = SagaState(saga.state)
    first = saga.step_index if unsure and _has_compensation(saga, saga.step_index) \
        else saga.step_index - 1
    if first < 0:
        saga.deadline = saga.not_before = None
        transition(saga, SagaState.FAILED, None, previous)
        return
    saga.phase = StepPhase.COMPENSATION.value
    if first == saga.step_index:
        saga.outputs = {**saga.outputs, UNSURE: saga.step_index}
    target = _compensable_at_or_before(saga, first)
    saga.step_index = max(target, 0)
    transition(saga, SagaState.COMPENSATING,
               current_step_name(saga) if target >= 0 else None, previous)
    if target < 0:  # nothing the completed steps did needs undoing
        saga.deadline = saga.not_before = None
        transition(saga, SagaState.COMPENSATED, None, SagaState.COMPENSATING)
    else:
        saga.not_before, saga.deadline = None, timezone.now() + grace()


def _compensate_from(saga: SagaInstance, index: int) -> None:
    target = _compensable_at_or_before(saga, index)
    if target < 0:
        saga.deadline = saga.not_before = None
        transition(saga, SagaState.COMPENSATED, None, SagaState.COMPENSATING)
        return
    saga.step_index, saga.not_before = target, None
    saga.deadline = timezone.now() + grace()


def _has_compensation(saga: SagaInstance, index: int) -> bool:
    return definition_of(saga).steps[index].compensation is not None


def _compensable_at_or_before(saga: SagaInstance, index: int) -> int:
    """The last step at or before ``index`` that has a compensation and completed (or
    failed unsure of its effect); -1 if none."""
    steps = definition_of(saga).steps
    for position in range(index, -1, -1):
        done = steps[position].name in saga.outputs or saga.outputs.get(UNSURE) == position
        if steps[position].compensation is not None and done:
            return position
    return -1
