"""kill -9 drills: a real `celery worker` process running CreateInvoice sagas is killed
with SIGKILL at each step boundary, 20 sagas at a time; a new worker and the recovery
sweep bring every saga to its end, and the sources show one effect per step, counted by
idempotency key.

The kill point is certain, not guessed: the step's source holds the call (its endpoint
knobs) until the test has seen all 20 sagas reach it, and only then is the worker killed.
Two boundaries per write:

- ``APPLIED``: the source applied the write and holds its answer, so the source has the
  effect and the engine has not recorded it (a crash after the source committed);
- ``BEFORE``: the previous step is recorded and this one claimed; its call is held and
  will never be applied (a crash between two steps, or before the first).

The same two boundaries are drilled in compensation: the charge is declined, so the
invoice is cancelled and the reservation released. The 20 runs of one boundary are 20
sagas on one worker with 20 threads: each saga is killed at that boundary on its own, which
is the property under test, for the price of one worker start and one recovery deadline.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from django.db import transaction
from django.utils import timezone

from apps.sagas import services
from apps.sagas.contracts import SagaState, SagaView, StepOutcome, StepPhase
from apps.sagas.models import SagaInstance, SagaStepLog
from apps.sagas.tasks import recover_overdue
from devtools.reference import ReferenceSources
from tests.sagas.conftest import Effects, control, start, wait_until
from tests.sagas.worker_process import worker_processes  # noqa: F401 - a fixture

RUNS = 20
HOLD_MS = 30_000  # far longer than reaching the kill; then answered to a dead worker
# The killed worker's calls must not give up before every saga has reached the hold: that
# took 0.15-0.3 s on two idle cores, over 8 s once in CI with the second core kept busy. So
# its step timeout outlasts the hold, and the test does not wait for the deadlines that
# timeout implies: once the worker is dead it moves them to now (`_expire_claims`). The
# worker that recovers has short timeouts, as its calls are not held.
KILLED_WORKER_ENV = {"SAGA_STEP_TIMEOUT_SECONDS": str(2 * HOLD_MS // 1000),
                     "SAGA_STEP_GRACE_SECONDS": "0.5",
                     "SAGA_RETRY_INITIAL_BACKOFF_SECONDS": "0.01",
                     "SAGA_RETRY_MAX_BACKOFF_SECONDS": "0.05", "BREAKER_FAIL_MAX": "1000"}
RECOVERING_WORKER_ENV = {**KILLED_WORKER_ENV, "SAGA_STEP_TIMEOUT_SECONDS": "8"}
APPLIED, BEFORE = "applied", "before"

# endpoint -> (its step, phase, the source's effect kind)
ENDPOINTS = {
    "reserve_stock": ("reserve_stock", StepPhase.ACTION, "reservations"),
    "create_invoice": ("create_invoice", StepPhase.ACTION, "invoices"),
    "charge_invoice": ("charge_invoice", StepPhase.ACTION, "charges"),
    "cancel_invoice": ("create_invoice", StepPhase.COMPENSATION, "invoices"),
    "release_reservation": ("reserve_stock", StepPhase.COMPENSATION, "reservations"),
}
ON_PRODUCTS = {"reserve_stock", "release_reservation"}


@dataclass(frozen=True)
class Boundary:
    endpoint: str
    when: str  # APPLIED or BEFORE

    def __str__(self) -> str:
        return f"{self.when}-{self.endpoint}"

    @property
    def step(self) -> str:
        return ENDPOINTS[self.endpoint][0]

    @property
    def phase(self) -> StepPhase:
        return ENDPOINTS[self.endpoint][1]

    @property
    def kind(self) -> str:
        return ENDPOINTS[self.endpoint][2]

    @property
    def compensating(self) -> bool:
        return self.phase is StepPhase.COMPENSATION

    def knobs(self) -> dict[str, Any]:
        if self.when == APPLIED:
            return {"hold_answer_ms": HOLD_MS, "hold_answer_next": RUNS}
        # Held before it is applied, then failed: the call never has an effect.
        return {"delay_ms": HOLD_MS, "delay_next": RUNS, "fail_next": RUNS}

    def held_calls_left(self, sources: ReferenceSources) -> int:
        knobs = requests.get(f"{self.url(sources)}/__control/endpoint-faults",
                             timeout=5).json()["faults"][self.endpoint]
        return int(knobs["hold_answer_next" if self.when == APPLIED else "delay_next"])

    def url(self, sources: ReferenceSources) -> str:
        return sources.products_url if self.endpoint in ON_PRODUCTS else sources.ecommerce_url


BOUNDARIES = [Boundary(endpoint, when) for endpoint in ENDPOINTS for when in (BEFORE, APPLIED)]


@pytest.fixture(scope="module", autouse=True)
def _held_calls_answered_afterwards(sources: ReferenceSources) -> Iterator[None]:
    """The sources are shared by the session: their calls still held for the killed workers
    (up to HOLD_MS after the last drill) would count as in flight in later tests."""
    yield
    wait_until("the calls held for the killed workers answered", lambda: all(
        requests.get(f"{url}/__control/stats", timeout=5).json()["in_flight"] == 0
        for url in (sources.products_url, sources.ecommerce_url)), HOLD_MS / 1000 + 30)


def _configure_faults(sources: ReferenceSources, boundary: Boundary) -> None:
    faults: dict[str, dict[str, Any]] = {sources.products_url: {}, sources.ecommerce_url: {}}
    faults[boundary.url(sources)][boundary.endpoint] = boundary.knobs()
    if boundary.compensating:  # the charge is declined: the saga undoes what it did
        faults[sources.ecommerce_url]["charge_invoice"] = {"fail_always": True, "status": 422}
    for url, knobs in faults.items():
        control(url, "endpoint-faults", knobs)


def _applied(sources: ReferenceSources, boundary: Boundary, saga_id: str) -> bool:
    if boundary.compensating:  # a release or cancel: the saga's effect is no longer held
        return Effects(sources, saga_id).held()[boundary.kind] == 0
    return Effects(sources, saga_id).created()[boundary.kind] == 1


def _reach(sources: ReferenceSources, boundary: Boundary, saga_ids: list[str]) -> None:
    """Until every saga's call is held at the boundary; then check none was recorded."""
    wait_until(f"{RUNS} calls held at {boundary}", lambda: boundary.held_calls_left(sources) == 0)
    if boundary.when == APPLIED:
        wait_until("the held writes applied", lambda: all(
            _applied(sources, boundary, saga_id) for saga_id in saga_ids))
    claimed = SagaInstance.objects.filter(pk__in=saga_ids, claim__isnull=False,
                                          phase=boundary.phase.value)
    assert claimed.count() == RUNS
    assert not SagaStepLog.objects.filter(saga__in=claimed, step=boundary.step,
                                          phase=boundary.phase.value).exists()


def _expire_claims(saga_ids: list[str]) -> None:
    """The clock moved on to the killed worker's deadlines: the time a real recovery waits
    for them, skipped. Nothing else changes: the claims, step logs and sources stay as the
    kill left them, so recovery still has to find and replay each killed step."""
    expired = SagaInstance.objects.filter(pk__in=saga_ids, deadline__isnull=False) \
        .update(deadline=timezone.now())
    assert expired == RUNS


def _recover(saga_ids: list[str], timeout: float = 120.0) -> None:
    """Beat's job, run here so the test need not wait for beat: re-queue overdue sagas."""
    def all_ended() -> bool:
        recover_overdue()
        return not SagaInstance.objects.filter(pk__in=saga_ids).exclude(
            state__in=[SagaState.COMPLETED.value, SagaState.COMPENSATED.value]).exists()
    wait_until("every saga ended COMPLETED or COMPENSATED", all_ended, timeout, pause=0.3)


def _assert_one_effect_per_step(sources: ReferenceSources, saga: SagaView,
                                boundary: Boundary) -> None:
    effects = Effects(sources, saga.id)
    if boundary.compensating:
        assert saga.state is SagaState.COMPENSATED, saga.error
        assert effects.created() == {"reservations": 1, "invoices": 1, "charges": 0,
                                     "refunds": 0}
        assert effects.held() == {"reservations": 0, "invoices": 0, "charges": 0}
    else:
        assert saga.state is SagaState.COMPLETED, saga.error
        assert effects.created() == {"reservations": 1, "invoices": 1, "charges": 1,
                                     "refunds": 0}
        assert effects.held() == {"reservations": 1, "invoices": 1, "charges": 1}
    killed = [r.outcome for r in saga.timeline
              if (r.step, r.phase) == (boundary.step, boundary.phase)]
    assert killed == [StepOutcome.TIMED_OUT, StepOutcome.SUCCEEDED]


@pytest.mark.parametrize("boundary", BOUNDARIES, ids=str)
def test_a_worker_killed_at_a_step_boundary_ends_every_saga_with_one_effect_per_step(
        saga_tenant, sources, boundary, worker_processes):  # noqa: F811
    _configure_faults(sources, boundary)
    first = worker_processes.start(concurrency=RUNS, **KILLED_WORKER_ENV)
    with transaction.atomic():  # their first steps are queued together, at the commit
        saga_ids = [start().id for _ in range(RUNS)]
    _reach(sources, boundary, saga_ids)

    first.kill()
    _expire_claims(saga_ids)
    worker_processes.start(concurrency=RUNS, **RECOVERING_WORKER_ENV)
    _recover(saga_ids)

    for saga_id in saga_ids:
        _assert_one_effect_per_step(sources, services.get_saga(saga_id), boundary)
