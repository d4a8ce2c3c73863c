"""Reading sagas: views for the API, the admin and the operator command."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime

from django.db.models import Q

from apps.sagas.contracts import (
    SagaError,
    SagaNotFound,
    SagaPage,
    SagaState,
    SagaView,
    StepOutcome,
    StepPhase,
    StepRecord,
)
from apps.sagas.engine import current_step_name
from apps.sagas.models import SagaInstance, SagaStepLog
from apps.sagas.transitions import trace_id_of

MAX_PAGE = 500


def find(saga_id: str) -> SagaInstance:
    try:
        saga = SagaInstance.objects.filter(pk=saga_id).first()
    except Exception as exc:  # a malformed UUID is a ValidationError from the field
        raise SagaNotFound(f"{saga_id!r} is not a saga id (a UUID).") from exc
    if saga is None:
        raise SagaNotFound(f"No saga {saga_id} in this tenant.")
    return saga


def to_view(saga: SagaInstance, with_timeline: bool = False) -> SagaView:
    timeline: tuple[StepRecord, ...] = ()
    if with_timeline:
        timeline = tuple(
            StepRecord(row.step, StepPhase(row.phase), row.attempt, row.started_at,
                       row.ended_at, StepOutcome(row.outcome), row.error)
            for row in SagaStepLog.objects.filter(saga=saga).order_by("id"))
    return SagaView(
        id=str(saga.id), definition=saga.definition, version=saga.definition_version,
        state=SagaState(saga.state), current_step=current_step_name(saga),
        attempt=saga.attempt, input=saga.input,
        outputs={k: v for k, v in saga.outputs.items() if not k.startswith("_")},
        error=saga.error,
        idempotency_key=saga.idempotency_key, trace_id=trace_id_of(saga.traceparent),
        created_at=saga.created_at, updated_at=saga.updated_at, deadline=saga.deadline,
        timeline=timeline)


def _encode_cursor(saga: SagaInstance) -> str:
    raw = f"{saga.created_at.isoformat()}|{saga.id}".encode()
    return base64.urlsafe_b64encode(raw).decode()


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        created, saga_id = base64.urlsafe_b64decode(cursor.encode()).decode().split("|")
        return datetime.fromisoformat(created), saga_id
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise SagaError(f"after={cursor!r} is not a cursor this API returned.") from exc


def list_page(state: SagaState | None, definition: str | None, first: int,
              after: str | None) -> SagaPage:
    if not 1 <= first <= MAX_PAGE:
        raise SagaError(f"first={first}: ask for 1 to {MAX_PAGE} sagas per page.")
    rows = SagaInstance.objects.order_by("-created_at", "-id")
    if state is not None:
        rows = rows.filter(state=SagaState(state).value)
    if definition:
        rows = rows.filter(definition=definition)
    if after:
        created, saga_id = _decode_cursor(after)
        rows = rows.filter(Q(created_at__lt=created) | Q(created_at=created, id__lt=saga_id))
    page = list(rows[:first + 1])
    more = len(page) > first
    page = page[:first]
    return SagaPage(tuple(to_view(s) for s in page),
                    _encode_cursor(page[-1]) if more and page else None)
