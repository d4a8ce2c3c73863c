"""The sagas app's public API: start, read and operate business transactions that span
sources (Layer 7). GraphQL mutations, the admin and the `saga` management command call
these; everything works in the current tenant's schema.

Implemented by the saga engine (``engine.py``, ``tasks.py``); signatures are the contract.
"""

from __future__ import annotations

from typing import Any

from apps.sagas import lifecycle, queries
from apps.sagas.contracts import SagaPage, SagaState, SagaView
from apps.sagas.create_invoice import CREATE_INVOICE
from apps.tenancy.services import record_audit

__all__ = ["CREATE_INVOICE", "abort_saga", "get_saga", "list_sagas", "resume_saga",
           "retry_step", "start_saga"]


def start_saga(definition: str, saga_input: dict[str, Any], *,
               idempotency_key: str | None = None) -> SagaView:
    """Validate ``saga_input`` for the named definition (its latest version), persist a
    PENDING saga and queue its first step; return it.

    The same ``idempotency_key`` returns the saga it started first (IdempotencyConflict if
    the input differs). Bad input raises InvalidSagaInput before anything is stored.
    """
    return queries.to_view(lifecycle.start(definition, saga_input, idempotency_key))


def get_saga(saga_id: str, *, with_timeline: bool = True) -> SagaView:
    """The saga, with its step log as ``timeline`` (oldest first). SagaNotFound if none."""
    return queries.to_view(queries.find(saga_id), with_timeline=with_timeline)


def list_sagas(*, state: SagaState | None = None, definition: str | None = None,
               first: int = 50, after: str | None = None) -> SagaPage:
    """Sagas newest first, filtered; ``after`` is a previous page's ``next_cursor``."""
    return queries.list_page(state, definition, first, after)


def resume_saga(saga_id: str) -> SagaView:
    """Continue a NEEDS_ATTENTION (or stuck RUNNING/COMPENSATING) saga where it stopped:
    forward if it was running, compensating if it was compensating."""
    view = queries.to_view(lifecycle.resume(saga_id), with_timeline=True)
    _audit("saga.resumed", view)
    return view


def retry_step(saga_id: str) -> SagaView:
    """Run the saga's current step again now (a fresh attempt budget)."""
    view = queries.to_view(lifecycle.retry_step(saga_id), with_timeline=True)
    _audit("saga.step_retried", view)
    return view


def abort_saga(saga_id: str) -> SagaView:
    """Stop a saga that has not finished: compensate its completed steps."""
    view = queries.to_view(lifecycle.abort(saga_id), with_timeline=True)
    _audit("saga.aborted", view)
    return view


def _audit(action: str, view: SagaView) -> None:
    record_audit(action, object_type="saga", object_id=view.id,
                 after={"state": view.state.value, "step": view.current_step},
                 detail={"definition": view.definition, "state": view.state.value,
                         "step": view.current_step})
