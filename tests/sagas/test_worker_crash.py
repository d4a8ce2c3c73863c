"""A worker process killed with SIGKILL in the middle of a step: recovery resumes the saga
on another worker, and the step's idempotency key keeps the source at one effect."""

from __future__ import annotations

import time

import pytest

from apps.sagas.contracts import SagaState, StepOutcome
from apps.sagas.models import SagaInstance
from apps.sagas.tasks import recover_overdue
from tests.sagas.conftest import Effects, control, start, wait_for
from tests.sagas.worker_process import worker_processes  # noqa: F401 - a fixture

WORKER_ENV = {"SAGA_STEP_TIMEOUT_SECONDS": "1.5", "SAGA_STEP_GRACE_SECONDS": "0.5",
              "SAGA_RETRY_INITIAL_BACKOFF_SECONDS": "0.01",
              "SAGA_RETRY_MAX_BACKOFF_SECONDS": "0.05", "BREAKER_FAIL_MAX": "1000"}


STEPS = ("reserve_stock", "create_invoice", "charge_invoice")


@pytest.mark.parametrize("step", STEPS)
def test_a_worker_killed_mid_step_is_resumed_to_one_effect(saga_tenant, sources, step,
                                                          worker_processes):  # noqa: F811
    url = sources.products_url if step == "reserve_stock" else sources.ecommerce_url
    # The step's first call is slow, so the worker can be killed while it waits.
    control(url, "endpoint-faults", {step: {"delay_ms": 1000, "delay_next": 1}})
    first = worker_processes.start(**WORKER_ENV)
    saga = start()
    wait_for(saga.id, lambda s: s.current_step == step
             and SagaInstance.objects.get(pk=s.id).claim is not None)
    first.kill()
    worker_processes.start(**WORKER_ENV)

    deadline = time.monotonic() + 60
    while not SagaState(SagaInstance.objects.get(pk=saga.id).state).is_final:
        assert time.monotonic() < deadline, "the saga was not resumed"
        recover_overdue()  # beat's job, run here so the test need not wait for beat
        time.sleep(0.3)
    done = wait_for(saga.id, lambda s: s.state.is_final)
    assert done.state is SagaState.COMPLETED, done.error
    assert [r.outcome for r in done.timeline if r.step == step] == [
        StepOutcome.TIMED_OUT, StepOutcome.SUCCEEDED]
    time.sleep(1.2)  # the killed worker's request lands at the source late: no second effect
    effects = Effects(sources, saga.id)
    assert effects.created() == {"reservations": 1, "invoices": 1, "charges": 1, "refunds": 0}
    assert effects.held() == {"reservations": 1, "invoices": 1, "charges": 1}
