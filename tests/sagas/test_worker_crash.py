"""A worker process killed with SIGKILL in the middle of a step: recovery resumes the saga
on another worker, and the step's idempotency key keeps the source at one effect."""

from __future__ import annotations

import time

from apps.sagas.contracts import SagaState, StepOutcome
from apps.sagas.models import SagaInstance
from apps.sagas.tasks import recover_overdue
from tests.sagas.conftest import Effects, control, start, wait_for
from tests.sagas.worker_process import worker_processes  # noqa: F401 - a fixture

WORKER_ENV = {"SAGA_STEP_TIMEOUT_SECONDS": "3", "SAGA_STEP_GRACE_SECONDS": "0.5",
              "SAGA_RETRY_INITIAL_BACKOFF_SECONDS": "0.01",
              "SAGA_RETRY_MAX_BACKOFF_SECONDS": "0.05", "BREAKER_FAIL_MAX": "1000"}


def test_a_killed_worker_s_step_is_resumed_once(saga_tenant, sources,
                                                worker_processes):  # noqa: F811
    control(sources.ecommerce_url, "faults", {"latency_ms": 1000})
    first = worker_processes.start(**WORKER_ENV)
    saga = start()
    # Kill the worker while it waits for the invoice to be created (claimed, not finished).
    wait_for(saga.id, lambda s: s.current_step == "create_invoice"
             and SagaInstance.objects.get(pk=s.id).claim is not None)
    first.kill()
    control(sources.ecommerce_url, "faults", {})
    worker_processes.start(**WORKER_ENV)

    def finished() -> bool:
        recover_overdue()  # beat's job, run here so the test need not wait for beat
        return SagaState(SagaInstance.objects.get(pk=saga.id).state).is_final

    deadline = time.monotonic() + 60
    while not finished():
        assert time.monotonic() < deadline, "the saga was not resumed"
        time.sleep(0.3)
    done = wait_for(saga.id, lambda s: s.state.is_final)
    assert done.state is SagaState.COMPLETED, done.error
    lost = [r for r in done.timeline if r.step == "create_invoice"]
    assert [r.outcome for r in lost] == [StepOutcome.TIMED_OUT, StepOutcome.SUCCEEDED]
    time.sleep(1.2)  # the killed worker's request lands at the source late: no second invoice
    effects = Effects(sources, saga.id)
    assert effects.created() == {"reservations": 1, "invoices": 1, "charges": 1, "refunds": 0}
    assert effects.held() == {"reservations": 1, "invoices": 1, "charges": 1}
