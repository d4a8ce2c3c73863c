"""How the `saga` command prints sagas: one line per saga in a list, a block with the step
timeline for one saga."""

from __future__ import annotations

import json
from collections.abc import Iterator

from apps.sagas.contracts import SagaView, StepRecord

#: longest error text shown in a list line (the full text is in `saga show`)
LIST_ERROR_CHARS = 60
LIST_HEADER = f"{'id':36}  {'definition':16}  {'state':15}  {'step':20}  {'try':>3}  updated"


def _short(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def list_line(saga: SagaView) -> str:
    line = (f"{saga.id:36}  {saga.definition:16}  {saga.state.value:15}  "
            f"{saga.current_step or '-':20}  {saga.attempt:>3}  "
            f"{saga.updated_at.isoformat(timespec='seconds')}")
    if saga.error:
        line += f"  {_short(saga.error, LIST_ERROR_CHARS)}"
    return line


def _step_line(record: StepRecord) -> str:
    took = (record.ended_at - record.started_at).total_seconds()
    line = (f"  {record.started_at.isoformat(timespec='milliseconds')}  "
            f"{record.step:20}  {record.phase.value:12}  #{record.attempt:<3}  "
            f"{record.outcome.value:15}  {took:8.3f} s")
    return f"{line}  {record.error}" if record.error else line


def detail_lines(saga: SagaView) -> Iterator[str]:
    yield f"saga        {saga.id}"
    yield f"definition  {saga.definition} v{saga.version}"
    yield f"state       {saga.state.value}"
    yield f"step        {saga.current_step or '-'} (attempt {saga.attempt})"
    if saga.deadline is not None:
        yield f"deadline    {saga.deadline.isoformat(timespec='seconds')}"
    yield f"created     {saga.created_at.isoformat(timespec='seconds')}"
    yield f"updated     {saga.updated_at.isoformat(timespec='seconds')}"
    yield f"key         {saga.idempotency_key or '-'}"
    yield f"trace       {saga.trace_id or '-'}"
    if saga.error:
        yield f"error       {saga.error}"
    yield f"input       {json.dumps(saga.input, sort_keys=True, default=str)}"
    yield f"outputs     {json.dumps(saga.outputs, sort_keys=True, default=str)}"
    yield f"timeline    {len(saga.timeline)} attempt(s), oldest first"
    for record in saga.timeline:
        yield _step_line(record)
