"""Celery tasks of the sagas app: one step attempt per task, and the recovery sweep.

``run_step`` is acked late and rejected (so redelivered) when its worker dies; the claim
on the saga row keeps a redelivered or duplicate message from running a step twice at
once, and the step's idempotency key makes a re-run one effect at the source. The broker's
visibility timeout (settings) is longer than any step's timeout plus its retry wait, so a
slow step is not redelivered while it still runs.
"""

from __future__ import annotations

from celery import shared_task
from django.db import transaction
from django.utils import timezone

from apps.sagas import engine
from apps.sagas.contracts import SagaState
from apps.sagas.metrics import NEEDS_ATTENTION
from apps.sagas.models import SagaInstance
from apps.tenancy.services import tenant_schemas
from dictamesh.observability.logging import get_logger
from dictamesh.tenancy import tenant_context

log = get_logger(__name__)


@shared_task(name="sagas.run_step", ignore_result=True, acks_late=True,
             reject_on_worker_lost=True)
def run_step(saga_id: str) -> None:
    """Run the saga's steps while the next is due at once; queue the retry (after its
    backoff) if one is due later. Running on here saves a trip through the broker per step;
    each step is still claimed and recorded on its own."""
    delay = engine.run_step(saga_id, follow=True)
    if delay is not None:
        run_step.apply_async((saga_id,), countdown=delay)


def enqueue_step(saga_id: str) -> None:
    """Queue the saga's next step once the current transaction commits (a step must never
    run against a saga row that is not committed yet)."""
    transaction.on_commit(lambda: run_step.delay(saga_id))


@shared_task(name="sagas.recover_overdue", ignore_result=True)
def recover_overdue() -> int:
    """Re-queue every unfinished saga past its deadline (its worker died, or its message
    was lost) and count the sagas that need an operator, per tenant."""
    resumed = 0
    now = timezone.now()
    for schema in tenant_schemas():
        with tenant_context(schema):
            overdue = SagaInstance.objects.filter(
                state__in=[s.value for s in engine.ACTIVE], deadline__lte=now,
            ).values_list("id", flat=True)
            for saga_id in overdue:
                run_step.delay(str(saga_id))
                resumed += 1
            NEEDS_ATTENTION.labels(schema).set(SagaInstance.objects.filter(
                state=SagaState.NEEDS_ATTENTION.value).count())
    if resumed:
        log.warning("overdue sagas re-queued", count=resumed)
    return resumed
