"""Source faults met by a real `celery worker` process (the same cases as
test_create_invoice.py, there on the in-thread worker): an answer dropped after the source
committed, at every step of one saga; a hung step that times out, is retried, then
compensated."""

from __future__ import annotations

import requests

from apps.sagas.contracts import SagaState, StepOutcome, StepPhase
from tests.sagas.conftest import Effects, control, start, wait_final, wait_until
from tests.sagas.worker_process import worker_processes  # noqa: F401 - a fixture

STEPS = ("reserve_stock", "create_invoice", "charge_invoice")
WORKER_ENV = {"SAGA_STEP_TIMEOUT_SECONDS": "2", "SAGA_RETRY_INITIAL_BACKOFF_SECONDS": "0.01",
              "SAGA_RETRY_MAX_BACKOFF_SECONDS": "0.05", "BREAKER_FAIL_MAX": "1000"}


def _all_answered(url: str) -> bool:
    """Every call the source received has had its answer (or its dropped answer), those
    still held from earlier tests included."""
    stats = requests.get(f"{url}/__control/stats", timeout=5).json()
    return bool(stats["in_flight"] == 0)


def test_an_answer_dropped_at_every_step_is_retried_with_its_key_to_one_effect(
        saga_tenant, sources, worker_processes):  # noqa: F811
    control(sources.products_url, "endpoint-faults", {"reserve_stock": {"drop_answer_next": 1}})
    control(sources.ecommerce_url, "endpoint-faults", {
        "create_invoice": {"drop_answer_next": 1}, "charge_invoice": {"drop_answer_next": 1}})
    worker_processes.start(**WORKER_ENV)
    saga = wait_final(start().id)
    assert saga.state is SagaState.COMPLETED, saga.error
    for step in STEPS:
        assert [r.outcome for r in saga.timeline if r.step == step] == [
            StepOutcome.RETRYABLE_ERROR, StepOutcome.SUCCEEDED], step
    effects = Effects(sources, saga.id)
    assert effects.created() == {"reservations": 1, "invoices": 1, "charges": 1, "refunds": 0}
    assert effects.held() == {"reservations": 1, "invoices": 1, "charges": 1}


def test_a_hung_step_times_out_is_retried_then_compensated(saga_tenant, sources,
                                                           worker_processes):  # noqa: F811
    # Every attempt of the invoice hangs past the step's timeout; the source still applies
    # the calls once their delay is over, long after the worker gave up on them.
    control(sources.ecommerce_url, "endpoint-faults", {
        "create_invoice": {"delay_ms": 6000, "delay_next": 3}})
    # 1 s: the other steps' calls must fit in it on a busy machine.
    worker_processes.start(**{**WORKER_ENV, "SAGA_STEP_TIMEOUT_SECONDS": "1"})
    saga = wait_final(start().id)
    assert saga.state is SagaState.COMPENSATED, saga.error
    hung = [r for r in saga.timeline
            if (r.step, r.phase) == ("create_invoice", StepPhase.ACTION)]
    assert [r.outcome for r in hung] == [StepOutcome.TIMED_OUT] * 3
    # Cut at the 1 s timeout, not waited out: each call would have taken 6 s.
    assert all((r.ended_at - r.started_at).total_seconds() < 4.5 for r in hung)
    # Undone last first; the invoice, whose fate was unknown, is replayed then cancelled.
    assert [r.step for r in saga.timeline if r.phase is StepPhase.COMPENSATION] == [
        "create_invoice", "reserve_stock"]
    wait_until("the hung calls landed at the source", lambda: _all_answered(sources.ecommerce_url))
    effects = Effects(sources, saga.id)
    assert effects.created() == {"reservations": 1, "invoices": 1, "charges": 0, "refunds": 0}
    assert effects.held() == {"reservations": 0, "invoices": 0, "charges": 0}
