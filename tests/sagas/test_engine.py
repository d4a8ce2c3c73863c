"""The engine's guarantees: validation before storage, one saga per idempotency key, an
append-only step log, transitions published with the change, one worker per step, recovery
of lost attempts, timeouts, metrics and traces."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
import requests
from django.db import DatabaseError, transaction
from django.utils import timezone
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import REGISTRY

from apps.events.models import OutboxMessage
from apps.events.services import get_codec
from apps.sagas import engine, services
from apps.sagas.contracts import (
    IdempotencyConflict,
    InvalidSagaInput,
    InvalidTransition,
    SagaError,
    SagaNotFound,
    SagaState,
    SourceUnavailableForSaga,
    StepOutcome,
)
from apps.sagas.create_invoice import register_create_invoice
from apps.sagas.models import SagaInstance, SagaStepLog
from apps.sagas.tasks import recover_overdue
from tests.sagas.conftest import (
    CUSTOMER,
    SKU,
    Effects,
    control,
    start,
    wait_final,
    wait_for,
    wait_until,
)


def _metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.mark.parametrize(("saga_input", "code"), [
    ({"customer_id": "999999", "items": [{"product_id": SKU, "quantity": 1}]},
     "UNKNOWN_CUSTOMER"),
    ({"customer_id": "", "items": [{"product_id": SKU, "quantity": 1}]}, "UNKNOWN_CUSTOMER"),
    ({"customer_id": CUSTOMER, "items": [{"product_id": "SKU-NOPE", "quantity": 1}]},
     "UNKNOWN_PRODUCT"),
    ({"customer_id": CUSTOMER, "items": [{"product_id": SKU, "quantity": 0}]}, "BAD_QUANTITY"),
    ({"customer_id": CUSTOMER, "items": [{"product_id": SKU, "quantity": "2"}]},
     "BAD_QUANTITY"),
    ({"customer_id": CUSTOMER, "items": [{"product_id": SKU, "quantity": 1}] * 51},
     "TOO_MANY_LINES"),
    ({"customer_id": CUSTOMER, "items": []}, "EMPTY_ITEMS"),
    ({"customer_id": CUSTOMER}, "EMPTY_ITEMS"),
])
def test_bad_input_is_refused_with_a_code_before_anything_is_stored(saga_tenant, saga_input,
                                                                    code):
    with pytest.raises(InvalidSagaInput) as refused:
        services.start_saga(services.CREATE_INVOICE, saga_input, idempotency_key="k-1")
    assert refused.value.code == code
    assert str(refused.value)
    assert not SagaInstance.objects.exists()
    assert not OutboxMessage.objects.exists()


def test_a_key_reused_with_other_input_is_a_conflict(saga_tenant):
    first = start(key="order-7")
    with pytest.raises(IdempotencyConflict, match="order-7"):
        start(quantity=2, key="order-7")
    assert SagaInstance.objects.count() == 1
    assert services.get_saga(first.id).state is SagaState.PENDING


def test_unknown_or_malformed_ids_are_not_found(saga_tenant):
    with pytest.raises(SagaNotFound):
        services.get_saga("0b5c9a3e-7d1c-4a53-9f32-5f6b5b8d2c11")
    with pytest.raises(SagaNotFound, match="not a saga id"):
        services.resume_saga("nope")


def test_the_step_log_is_append_only(saga_tenant):
    saga = SagaInstance.objects.get(pk=start().id)
    now = timezone.now()
    row = SagaStepLog.objects.create(saga=saga, step="reserve_stock", phase="action",
                                     attempt=1, started_at=now, ended_at=now,
                                     outcome="succeeded")
    for change in (lambda: SagaStepLog.objects.filter(pk=row.pk).update(error="x"),
                   lambda: SagaStepLog.objects.filter(pk=row.pk).delete()):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            change()
    assert SagaStepLog.objects.get(pk=row.pk).error == ""


@pytest.mark.usefixtures("celery_worker")
def test_each_transition_is_an_avro_event_in_the_outbox(saga_tenant):
    completed_before = _metric("dictamesh_saga_transitions_total",
                               definition="create_invoice", state="COMPLETED")
    saga = wait_final(start().id)
    assert saga.state is SagaState.COMPLETED
    codec = get_codec()
    events = [codec.decode(bytes(m.value)).record for m in OutboxMessage.objects.filter(
        topic=f"{saga_tenant}.system.sagas.state_changed").order_by("id")]
    assert [(e["from_state"], e["to_state"]) for e in events] == [
        (None, "PENDING"), ("PENDING", "RUNNING"), ("RUNNING", "COMPLETED")]
    assert {e["saga_id"] for e in events} == {saga.id}
    assert {e["tenant"] for e in events} == {saga_tenant}
    assert _metric("dictamesh_saga_transitions_total", definition="create_invoice",
                   state="COMPLETED") == completed_before + 1
    assert _metric("dictamesh_saga_step_seconds_count", definition="create_invoice",
                   step="charge_invoice", phase="action", outcome="succeeded") >= 1


def test_two_workers_never_hold_one_step(saga_tenant):
    saga = start()
    first = engine.claim(saga.id)
    assert isinstance(first, engine.Claimed)
    assert engine.claim(saga.id) is None  # the second worker finds the step claimed
    assert services.get_saga(saga.id).state is SagaState.RUNNING
    with pytest.raises(InvalidTransition, match="running right now"):
        services.abort_saga(saga.id)


def test_recovery_resumes_a_step_whose_worker_died(saga_tenant, sources, request):
    saga = start()
    # A worker claims the first step and dies before it records the end.
    claimed = engine.claim(saga.id)
    assert isinstance(claimed, engine.Claimed)
    request.getfixturevalue("celery_worker")  # the surviving worker
    assert recover_overdue() == 0  # the claim's deadline has not passed: not lost yet
    SagaInstance.objects.filter(pk=saga.id).update(
        deadline=timezone.now() - timedelta(seconds=1))
    assert recover_overdue() == 1
    done = wait_final(saga.id)
    assert done.state is SagaState.COMPLETED
    first = done.timeline[0]
    assert (first.step, first.attempt, first.outcome) == ("reserve_stock", 1,
                                                          StepOutcome.TIMED_OUT)
    assert (done.timeline[1].attempt, done.timeline[1].outcome) == (2, StepOutcome.SUCCEEDED)
    assert Effects(sources, saga.id).created()["reservations"] == 1


@pytest.mark.usefixtures("celery_worker")
def test_a_hung_step_times_out_is_retried_then_compensated(saga_tenant, sources,
                                                           saga_settings):
    # 1 s: every step's call, not only the hung one, must fit in it on a busy machine; the
    # hung call takes 6 s, so an attempt cut at the timeout is told from one waited out.
    saga_settings.SAGA_STEP_TIMEOUT_SECONDS = 1.0
    register_create_invoice(replace=True)
    control(sources.ecommerce_url, "faults", {"latency_ms": 6000})
    saga = wait_for(start().id, lambda s: s.state is SagaState.COMPENSATING)
    control(sources.ecommerce_url, "faults", {})  # the source recovers
    saga = wait_final(saga.id)
    assert saga.state is SagaState.COMPENSATED, saga.error
    hung = [r for r in saga.timeline if r.step == "create_invoice" and r.phase == "action"]
    assert [r.outcome for r in hung] == [StepOutcome.TIMED_OUT] * 3
    # Cut at the 1 s timeout, not waited out: each call would have taken 6 s.
    assert all((r.ended_at - r.started_at).total_seconds() < 4.5 for r in hung)
    # The abandoned calls land at the source in the end: they must change nothing.
    wait_until("the abandoned calls were answered", lambda: requests.get(
        f"{sources.ecommerce_url}/__control/stats", timeout=5).json()["in_flight"] == 0)
    assert Effects(sources, saga.id).held() == {"reservations": 0, "invoices": 0, "charges": 0}


def test_operator_actions_refuse_sagas_that_ended(saga_tenant):
    saga = start()
    aborted = services.abort_saga(saga.id)
    assert aborted.state is SagaState.FAILED  # nothing had run: nothing to undo
    for action in (services.resume_saga, services.retry_step, services.abort_saga):
        with pytest.raises(InvalidTransition, match="FAILED"):
            action(saga.id)


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    provider = trace.get_tracer_provider()
    assert isinstance(provider, TracerProvider)
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield exporter
    exporter.shutdown()


@pytest.mark.usefixtures("celery_worker")
def test_each_step_is_a_span_under_the_trace_that_started_the_saga(saga_tenant, spans):
    with trace.get_tracer(__name__).start_as_current_span("createInvoice mutation") as root:
        saga = start()
    trace_id = format(root.get_span_context().trace_id, "032x")
    assert saga.trace_id == trace_id
    wait_final(saga.id)
    steps = [s for s in spans.get_finished_spans() if s.name.startswith("saga create_invoice.")]
    assert [s.name for s in steps] == [
        "saga create_invoice.reserve_stock action", "saga create_invoice.create_invoice action",
        "saga create_invoice.charge_invoice action"]
    assert {format(s.context.trace_id, "032x") for s in steps} == {trace_id}
    finished = spans.get_finished_spans()
    for step in steps:  # each step's call to its source is a child span, then its HTTP
        calls = [s for s in finished if s.name.startswith("source ")
                 and s.parent is not None and s.parent.span_id == step.context.span_id]
        assert len(calls) == 1, (step.name, [s.name for s in finished])
        assert any(s.parent is not None and s.parent.span_id == calls[0].context.span_id
                   and "http.url" in s.attributes for s in finished), calls[0].name


def test_abort_compensates_the_steps_that_completed(saga_tenant, sources):
    saga = start()
    assert engine.run_step(saga.id) == 0.0  # reserve_stock, run here instead of a worker
    aborted = services.abort_saga(saga.id)
    assert aborted.state is SagaState.COMPENSATING
    from apps.tenancy.services import AuditFilter, audit_entries  # the operator's act

    assert audit_entries(AuditFilter(action="saga.aborted"))[0].object_id == saga.id
    assert aborted.current_step == "reserve_stock"
    assert aborted.error == "aborted by an operator"
    assert engine.run_step(saga.id) is None  # the release: nothing left to do
    done = services.get_saga(saga.id)
    assert done.state is SagaState.COMPENSATED
    assert [(r.step, r.phase.value) for r in done.timeline] == [
        ("reserve_stock", "action"), ("reserve_stock", "compensation")]
    assert Effects(sources, saga.id).held() == {"reservations": 0, "invoices": 0, "charges": 0}


def test_retry_step_gives_a_parked_compensation_a_fresh_budget(saga_tenant, sources):
    saga = start()
    engine.run_step(saga.id)  # reserved
    control(sources.products_url, "endpoint-faults", {"release_reservation": {
        "fail_always": True, "status": 503}})
    services.abort_saga(saga.id)
    while services.get_saga(saga.id).state is SagaState.COMPENSATING:
        SagaInstance.objects.filter(pk=saga.id).update(not_before=None)  # skip the backoff
        engine.run_step(saga.id)
    parked = services.get_saga(saga.id)
    assert parked.state is SagaState.NEEDS_ATTENTION
    assert parked.error.startswith("reserve_stock (compensation, attempt 3)")
    assert "503" in parked.error
    assert recover_overdue() == 0  # parked sagas wait for an operator, not for recovery
    assert _metric("dictamesh_sagas_needs_attention", tenant=saga_tenant) == 1
    control(sources.products_url, "endpoint-faults", {})
    retried = services.retry_step(saga.id)
    assert (retried.state, retried.attempt) == (SagaState.COMPENSATING, 0)
    released_before = _metric("dictamesh_saga_compensations_total",
                              definition="create_invoice", step="reserve_stock")
    engine.run_step(saga.id)
    assert services.get_saga(saga.id).state is SagaState.COMPENSATED
    assert _metric("dictamesh_saga_compensations_total", definition="create_invoice",
                   step="reserve_stock") == released_before + 1
    recover_overdue()
    assert _metric("dictamesh_sagas_needs_attention", tenant=saga_tenant) == 0


def test_the_broker_must_not_redeliver_a_step_that_still_runs(settings):
    from django.core.exceptions import ImproperlyConfigured

    from apps.sagas.apps import check_visibility_timeout

    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 60}
    settings.SAGA_STEP_GRACE_SECONDS = 10
    check_visibility_timeout([49.0])
    with pytest.raises(ImproperlyConfigured, match="CELERY_VISIBILITY_TIMEOUT_SECONDS=60"):
        check_visibility_timeout([50.0])


def test_a_source_that_cannot_answer_is_not_taken_for_a_missing_customer(saga_tenant,
                                                                         sources):
    control(sources.directus_url, "faults", {"down": True})
    with pytest.raises(SourceUnavailableForSaga, match="Cannot check customer 48 now"):
        start(customer="48")  # never read before: no cached copy to fall back on
    assert not SagaInstance.objects.exists()


def test_a_running_saga_keeps_the_definition_version_it_started_with(saga_tenant):
    from apps.sagas.definitions import SagaDefinition, Step, register

    def version(label: str) -> SagaDefinition:
        return SagaDefinition("versioned_probe", int(label[1:]), (
            Step("only", lambda context: label),))

    register(version("v1"))
    old = services.start_saga("versioned_probe", {})
    register(version("v2"))  # deployed while the first saga waits for its step
    new = services.start_saga("versioned_probe", {})
    assert (old.version, new.version) == (1, 2)
    engine.run_step(old.id)
    engine.run_step(new.id)
    assert services.get_saga(old.id).outputs == {"only": "v1"}
    assert services.get_saga(new.id).outputs == {"only": "v2"}
    with pytest.raises(ValueError, match="already registered"):
        register(version("v2"))


def test_sagas_are_listed_newest_first_by_state_in_pages(saga_tenant):
    started = [start(customer=c).id for c in ("1", "2", "3")]
    services.abort_saga(started[1])  # FAILED: nothing had run
    first = services.list_sagas(first=2)
    assert [s.id for s in first.sagas] == started[::-1][:2]
    rest = services.list_sagas(first=2, after=first.next_cursor)
    assert ([s.id for s in rest.sagas], rest.next_cursor) == ([started[0]], None)
    failed = services.list_sagas(state=SagaState.FAILED)
    assert [s.id for s in failed.sagas] == [started[1]]
    assert services.list_sagas(definition="nothing_like_it").sagas == ()
    with pytest.raises(SagaError, match="not a cursor"):
        services.list_sagas(after="garbage!")
    with pytest.raises(SagaError, match="1 to 500"):
        services.list_sagas(first=0)


def test_concurrent_starts_with_one_key_make_one_saga(saga_tenant):
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection
    from django_tenants.utils import schema_context

    start(customer="1")  # warm the validation reads, so the starts race on the insert

    def one() -> str:
        try:
            with schema_context(saga_tenant):
                return start(key="same-order").id
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=6) as pool:
        ids = list(pool.map(lambda _: one(), range(6)))
    assert len(set(ids)) == 1
    assert SagaInstance.objects.filter(idempotency_key="same-order").count() == 1


def test_resume_restarts_a_step_whose_worker_is_gone(saga_tenant, sources):
    saga = start()
    assert isinstance(engine.claim(saga.id), engine.Claimed)  # ... and the worker dies
    with pytest.raises(InvalidTransition, match="resume applies to NEEDS_ATTENTION"):
        services.resume_saga(saga.id)  # not overdue yet: it may still be running
    SagaInstance.objects.filter(pk=saga.id).update(
        deadline=timezone.now() - timedelta(seconds=1))
    resumed = services.resume_saga(saga.id)
    assert (resumed.state, resumed.attempt) == (SagaState.RUNNING, 0)
    assert [(r.step, r.outcome) for r in resumed.timeline] == [
        ("reserve_stock", StepOutcome.TIMED_OUT)]
    engine.run_step(saga.id, follow=True)
    assert services.get_saga(saga.id).state is SagaState.COMPLETED
    assert Effects(sources, saga.id).created()["reservations"] == 1
