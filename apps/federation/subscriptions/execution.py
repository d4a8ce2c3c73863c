"""A subscription's answer to one event: its document executed like a query.

Execution is synchronous (the loaders, data products and Django's ORM are; see
loaders.py), so it runs on the sockets' thread pool (threads.py), in the subscriber's
tenant schema, with a fresh RequestContext per event: the same loaders, source caches,
masking of unexpected errors and error entries for degraded sources as `/graphql`.
Subscribers whose answers to an event must be equal (same tenant, key scopes, schema,
document, variables: the plan's fingerprint) share one execution and one serialised
result: a thousand sockets on one subscription cost one execution per event, not a
thousand. The execution starts as the hub hands the event out (`start`), so it runs while
the sockets' sender tasks wake up, not after the first of them has had its turn.
"""

from __future__ import annotations

import asyncio
import json
from collections import OrderedDict
from typing import Any

from graphql import ExecutionResult, execute

from apps.federation.executor import ExecutionContext
from apps.federation.loaders import RequestContext
from apps.federation.subscriptions.documents import Plan
from apps.federation.subscriptions.threads import submit
from apps.federation.views import _execution_failed, _masked
from dictamesh.tenancy import tenant_context

#: how many (event, fingerprint) results a process remembers for late subscribers
SHARED_RESULTS = 4096


def execute_plan(plan: Plan, message: dict[str, Any]) -> str:
    """The `next` payload (an ExecutionResult as JSON text) of ``plan`` for ``message``."""
    with tenant_context(plan.tenant):
        context = RequestContext(request=None, scope=plan.scope)
        try:
            result = execute(plan.schema, plan.document, root_value=message,
                             context_value=context, variable_values=plan.variables,
                             operation_name=plan.operation_name,
                             execution_context_class=ExecutionContext)
        except Exception as exc:  # noqa: BLE001 - answered as an error, never a dead socket
            return json.dumps(_execution_failed(exc).body)
    assert isinstance(result, ExecutionResult)  # sync execution  # noqa: S101
    body: dict[str, Any] = {"data": result.data}
    errors = [_masked(error) for error in result.errors or ()] + context.degraded
    if errors:
        body["errors"] = [error.formatted for error in errors]
    return json.dumps(body, separators=(",", ":"), default=str)


class SharedResults:
    """One execution per (event, fingerprint) in this event loop; later askers await it."""

    def __init__(self, size: int = SHARED_RESULTS) -> None:
        self._size = size
        self._futures: OrderedDict[tuple[str, str], asyncio.Future[str]] = OrderedDict()

    def start(self, plan: Plan, message: dict[str, Any]) -> asyncio.Future[str]:
        """The execution of ``plan`` for ``message``: under way, or started now."""
        key = (message["event_id"], plan.fingerprint)
        future = self._futures.get(key)
        if future is None or future.get_loop() is not asyncio.get_running_loop():
            future = submit(execute_plan, plan, message)
            self._futures[key] = future
            while len(self._futures) > self._size:
                self._futures.popitem(last=False)
        return future

    async def render(self, plan: Plan, message: dict[str, Any]) -> str:
        future = self.start(plan, message)
        if future.done():  # the common case for all but the first few subscribers
            return future.result()
        # One subscriber going away must not cancel the execution the others wait for.
        return await asyncio.shield(future)


SHARED = SharedResults()
