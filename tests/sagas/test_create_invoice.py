"""CreateInvoice end to end: a real worker runs the steps against the reference sources."""

from __future__ import annotations

import pytest

from apps.sagas import services
from apps.sagas.contracts import SagaState, StepOutcome, StepPhase
from tests.sagas.conftest import CUSTOMER, Effects, control, start, wait_final

pytestmark = pytest.mark.usefixtures("celery_worker")


def _trail(saga) -> list[tuple[str, str, str]]:
    return [(r.step, r.phase.value, r.outcome.value) for r in saga.timeline]


def test_the_three_steps_complete_with_one_effect_each(saga_tenant, sources):
    saga = wait_final(start().id)
    assert saga.state is SagaState.COMPLETED, saga.error
    assert _trail(saga) == [("reserve_stock", "action", "succeeded"),
                            ("create_invoice", "action", "succeeded"),
                            ("charge_invoice", "action", "succeeded")]
    assert saga.outputs["charge_invoice"]["payment_id"].startswith("PAY-")
    effects = Effects(sources, saga.id)
    assert effects.held() == {"reservations": 1, "invoices": 1, "charges": 1}
    assert effects.created() == {"reservations": 1, "invoices": 1, "charges": 1, "refunds": 0}


def test_a_declined_charge_compensates_the_invoice_then_the_reservation(saga_tenant, sources):
    control(sources.ecommerce_url, "faults", {"declined_customers": [int(CUSTOMER)]})
    saga = wait_final(start().id)
    assert saga.state is SagaState.COMPENSATED
    assert "declined" in saga.error
    assert _trail(saga) == [("reserve_stock", "action", "succeeded"),
                            ("create_invoice", "action", "succeeded"),
                            ("charge_invoice", "action", "permanent_error"),
                            ("create_invoice", "compensation", "succeeded"),
                            ("reserve_stock", "compensation", "succeeded")]
    assert Effects(sources, saga.id).held() == {"reservations": 0, "invoices": 0, "charges": 0}


def test_a_rejected_invoice_releases_the_reservation(saga_tenant, sources):
    control(sources.ecommerce_url, "faults", {"error_rate": 1.0, "status": 400})
    saga = wait_final(start().id)
    assert saga.state is SagaState.COMPENSATED
    assert _trail(saga) == [("reserve_stock", "action", "succeeded"),
                            ("create_invoice", "action", "permanent_error"),
                            ("reserve_stock", "compensation", "succeeded")]
    assert Effects(sources, saga.id).held() == {"reservations": 0, "invoices": 0, "charges": 0}


def test_short_stock_fails_the_first_step_with_nothing_to_undo(saga_tenant, sources):
    saga = wait_final(start(quantity=10_000_000).id)
    assert saga.state is SagaState.FAILED
    assert "Not enough stock" in saga.error
    assert _trail(saga) == [("reserve_stock", "action", "permanent_error")]
    assert Effects(sources, saga.id).held() == {"reservations": 0, "invoices": 0, "charges": 0}


def test_a_compensation_that_keeps_failing_needs_attention_until_resumed(saga_tenant,
                                                                        sources):
    # The e-commerce source answers 503 to everything: the invoice step is retried, then
    # compensated; as its effect is unknown, its compensation (replay the create with its
    # key, then cancel) needs the source too, keeps failing and parks the saga.
    control(sources.ecommerce_url, "faults", {"error_rate": 1.0, "status": 503})
    saga = wait_final(start().id)
    assert saga.state is SagaState.NEEDS_ATTENTION
    assert "create_invoice (compensation, attempt 3)" in saga.error
    assert "503" in saga.error
    attempts = [(r.phase, r.attempt, r.outcome) for r in saga.timeline
                if r.step == "create_invoice"]
    assert attempts == [(phase, n, StepOutcome.RETRYABLE_ERROR)
                        for phase in (StepPhase.ACTION, StepPhase.COMPENSATION)
                        for n in (1, 2, 3)]
    assert Effects(sources, saga.id).held()["reservations"] == 1  # not released yet

    control(sources.ecommerce_url, "faults", {})  # the operator fixes the source
    assert services.resume_saga(saga.id).state is SagaState.COMPENSATING
    saga = wait_final(saga.id)
    assert saga.state is SagaState.COMPENSATED
    assert [(r.step, r.phase.value, r.outcome.value) for r in saga.timeline[-2:]] == [
        ("create_invoice", "compensation", "succeeded"),
        ("reserve_stock", "compensation", "succeeded")]
    assert Effects(sources, saga.id).held() == {"reservations": 0, "invoices": 0, "charges": 0}


def test_the_same_idempotency_key_starts_one_saga(saga_tenant, sources):
    first = start(key="order-42")
    again = start(key="order-42")
    assert again.id == first.id
    assert wait_final(first.id).state is SagaState.COMPLETED
    assert services.list_sagas().sagas == (services.get_saga(first.id, with_timeline=False),)


# Failure injected at each step (the source refuses it: a 4xx), and what must be undone.
FAILURES = {
    "reserve_stock": (SagaState.FAILED, []),
    "create_invoice": (SagaState.COMPENSATED, ["reserve_stock"]),
    "charge_invoice": (SagaState.COMPENSATED, ["create_invoice", "reserve_stock"]),
}


@pytest.mark.parametrize("step", FAILURES)
def test_a_failure_at_each_step_compensates_in_reverse_order(saga_tenant, sources, step):
    url = sources.products_url if step == "reserve_stock" else sources.ecommerce_url
    control(url, "endpoint-faults", {step: {"fail_always": True, "status": 422}})
    saga = wait_final(start().id)
    state, undone = FAILURES[step]
    assert saga.state is state
    assert step in saga.error
    assert [r.step for r in saga.timeline if r.phase is StepPhase.COMPENSATION] == undone
    assert Effects(sources, saga.id).held() == {"reservations": 0, "invoices": 0, "charges": 0}


@pytest.mark.parametrize("step", FAILURES)
def test_an_answer_dropped_after_commit_is_retried_with_its_key_to_one_effect(
        saga_tenant, sources, step):
    url = sources.products_url if step == "reserve_stock" else sources.ecommerce_url
    control(url, "endpoint-faults", {step: {"drop_answer_next": 1}})
    saga = wait_final(start().id)
    assert saga.state is SagaState.COMPLETED, saga.error
    attempts = [r.outcome for r in saga.timeline if r.step == step]
    assert attempts == [StepOutcome.RETRYABLE_ERROR, StepOutcome.SUCCEEDED]
    effects = Effects(sources, saga.id)
    assert effects.created() == {"reservations": 1, "invoices": 1, "charges": 1, "refunds": 0}
    assert effects.held() == {"reservations": 1, "invoices": 1, "charges": 1}
