"""One WebSocket at `/graphql`: the graphql-transport-ws protocol over Django Channels.

    connect ─▶ accept (subprotocol graphql-transport-ws) ─▶ connection_init {Authorization}
        ─▶ connection_ack ─▶ subscribe {id, query} ─▶ next … ─▶ complete

- The tenant is the host's (routing.py); the key in `connection_init` must be that
  tenant's. It is checked again every GRAPHQL_WS_KEY_RECHECK_SECONDS: a revoked or expired
  key's socket closes with 4403.
- Each subscription follows its channel-layer group (messages.py) through the process'
  hub (hub.py); an event for it goes into the socket's bounded queue, and one sender
  task per socket executes (execution.py) and sends. A full queue means the client reads
  slower than its events arrive: the socket closes with TOO_SLOW rather than buffering
  without bound or slowing other sockets.
- A refused document is an `error` message for that subscription id; the socket stays
  open. Protocol violations close it with the protocol's codes (protocol.py).
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from typing import Any

from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from graphql import GraphQLError
from prometheus_client import Counter as MetricCounter
from prometheus_client import Gauge

from apps.federation.auth import AuthError, Principal, authenticate_key
from apps.federation.ratelimit import RateLimited, check_rate
from apps.federation.subscriptions import key_limits, protocol
from apps.federation.subscriptions.documents import Plan, SubscribeRefused, compile_subscription
from apps.federation.subscriptions.execution import SHARED
from apps.federation.subscriptions.hub import hub
from apps.federation.subscriptions.threads import run_sync
from dictamesh.observability.logging import get_logger
from dictamesh.tenancy import tenant_context

log = get_logger(__name__)

OPEN_SOCKETS = Gauge("dictamesh_graphql_ws_sockets", "Open GraphQL WebSockets.",
                     multiprocess_mode="livesum")
CLOSED = MetricCounter("dictamesh_graphql_ws_closed",
                       "GraphQL WebSockets the server closed, by close code.", ["code"])
DELIVERED = MetricCounter("dictamesh_graphql_ws_delivered",
                          "Subscription `next` messages sent.")

TOO_MANY_SUBSCRIPTIONS = "TOO_MANY_SUBSCRIPTIONS"
# A close frame's reason holds at most 123 bytes.
_MAX_REASON = 120


def _forbidden(exc: AuthError) -> str:
    """The close reason for a refused key: the refusal's first sentence (the rest tells
    HTTP clients about headers)."""
    return f"Forbidden: {exc.message.split('. ', 1)[0].rstrip('.')}."


class GraphQLSubscriptionConsumer(AsyncWebsocketConsumer):
    # No channel of its own on the layer: the process' hub reads the layer for every socket
    # (hub.py). Channels gives a consumer whose alias names no configured layer none, where
    # the default would keep a pending receive (two tasks) per socket in channels-redis'
    # shared receive loop, for messages that never come.
    channel_layer_alias = "none: sockets read the channel layer through the hub"

    async def connect(self) -> None:
        self.socket_id = uuid.uuid4().hex  # names this socket's subscription slots
        self.tenant: str | None = self.scope.get("tenant_schema")
        self.principal: Principal | None = None
        self.token = ""
        self.init_received = False
        self.closing = False  # no more events taken or sent
        self.closed = False  # the close frame is on its way
        self.plans: dict[str, Plan] = {}
        self.pending: set[str] = set()
        self.joined: Counter[str] = Counter()
        self.queue: asyncio.Queue[tuple[str, Plan, dict[str, Any]]] = asyncio.Queue(
            maxsize=settings.GRAPHQL_WS_QUEUE_SIZE)
        self.tasks: list[asyncio.Task[None]] = []
        OPEN_SOCKETS.inc()
        if protocol.SUBPROTOCOL not in self.scope.get("subprotocols", []):
            await self.accept()
            await self._close(protocol.SUBPROTOCOL_NOT_ACCEPTABLE,
                              f"Subprotocol not acceptable: use {protocol.SUBPROTOCOL}.")
            return
        await self.accept(protocol.SUBPROTOCOL)
        if self.tenant is None:
            await self._close(protocol.FORBIDDEN, "No tenant at this host: connect to your "
                                                  "tenant's host.")
            return
        self._spawn(self._init_deadline())

    # --- inbound ---------------------------------------------------------------------

    async def receive(self, text_data: str | None = None,
                      bytes_data: bytes | None = None) -> None:
        if self.closing:
            return
        try:
            message = protocol.parse(text_data)
        except protocol.ProtocolError as exc:
            await self._close(protocol.BAD_MESSAGE, str(exc))
            return
        if self.principal is not None and not await run_sync(
                key_limits.within_message_rate, self.principal):
            await self._close(protocol.TOO_MANY_MESSAGES, "Too many messages: this API key "
                              f"may send {settings.GRAPHQL_WS_MESSAGES_PER_SECOND} per second.")
            return
        if message.type == "connection_init":
            await self._initialise(message.payload)
        elif message.type == "ping":
            await self.send(text_data=protocol.encode("pong"))
        elif message.type == "pong":
            return
        elif self.principal is None:
            await self._close(protocol.UNAUTHORIZED, "Unauthorized: send connection_init "
                                                     "and wait for connection_ack.")
        elif message.type == "subscribe":
            assert message.id is not None  # noqa: S101 - protocol.parse checked it
            await self._subscribe(message.id, message.payload)
        elif message.type == "complete":
            assert message.id is not None  # noqa: S101
            await self._complete(message.id)

    async def _initialise(self, payload: Any) -> None:
        if self.init_received:
            await self._close(protocol.TOO_MANY_INIT_REQUESTS,
                              "Too many initialisation requests.")
            return
        self.init_received = True
        token = protocol.api_key_of(payload)
        if not token:
            await self._close(protocol.FORBIDDEN, "Forbidden: send the API key in "
                              'connection_init: {"Authorization": "Bearer <key>"}.')
            return
        try:
            principal = await self._authenticate(token)
        except AuthError as exc:
            await self._close(protocol.FORBIDDEN, _forbidden(exc))
            return
        self.principal, self.token = principal, token
        await self.send(text_data=protocol.encode("connection_ack"))
        self._spawn(self._send_events())
        self._spawn(self._recheck_key())

    async def _authenticate(self, token: str) -> Principal:
        assert self.tenant is not None  # noqa: S101 - connect() closed the socket otherwise
        return await run_sync(authenticate_key, token, self.tenant)

    async def _subscribe(self, subscription_id: str, payload: dict[str, Any]) -> None:
        if subscription_id in self.plans or subscription_id in self.pending:
            await self._close(protocol.SUBSCRIBER_EXISTS,
                              f"Subscriber for {subscription_id[:60]} already exists.")
            return
        self.pending.add(subscription_id)
        try:
            plan = await run_sync(self._plan, payload)
            taken = await run_sync(key_limits.take_slot, self.principal,
                                   self._slot(subscription_id))
            if not taken:
                raise SubscribeRefused(GraphQLError(
                    f"This API key has {settings.GRAPHQL_WS_MAX_SUBSCRIPTIONS_PER_KEY} "
                    "subscriptions open (the limit): complete one first.",
                    extensions={"code": TOO_MANY_SUBSCRIPTIONS}))
        except SubscribeRefused as exc:
            await self._refuse(subscription_id, exc.errors)
            return
        except Exception:  # noqa: BLE001 - e.g. the database is down: refuse, keep the socket
            log.exception("graphql-ws subscribe failed", tenant=self.tenant)
            await self._refuse(subscription_id, [GraphQLError(
                "The subscription could not be set up (a service the platform needs is "
                "unavailable); subscribe again later.",
                extensions={"code": "INTERNAL_SERVER_ERROR"})])
            return
        finally:
            cancelled = subscription_id not in self.pending  # completed while compiling
            self.pending.discard(subscription_id)
        if cancelled or self.closing:
            await self._free([subscription_id])
            return
        self.plans[subscription_id] = plan
        if self.joined[plan.group] == 0:
            await hub().join(plan.group, self)
        self.joined[plan.group] += 1

    async def _refuse(self, subscription_id: str, errors: Any) -> None:
        if subscription_id in self.pending and not self.closing:
            await self.send(text_data=protocol.encode(
                "error", subscription_id, [error.formatted for error in errors]))

    def _plan(self, payload: dict[str, Any]) -> Plan:
        assert self.principal is not None  # noqa: S101
        with tenant_context(self.principal.tenant):
            try:
                check_rate(self.principal)  # a subscribe counts as one request
            except RateLimited as exc:
                raise SubscribeRefused(GraphQLError(str(exc), extensions={
                    "code": exc.code, "retryAfterSeconds": exc.retry_after_seconds})) from None
            return compile_subscription(self.principal, payload)

    async def _complete(self, subscription_id: str) -> None:
        self.pending.discard(subscription_id)
        plan = self.plans.pop(subscription_id, None)
        if plan is None:
            return
        await self._free([subscription_id])
        self.joined[plan.group] -= 1
        if self.joined[plan.group] <= 0:
            del self.joined[plan.group]
            await hub().leave(plan.group, self)

    # --- outbound --------------------------------------------------------------------

    def deliver(self, message: dict[str, Any]) -> None:
        """A live message (messages.py) from the hub: queue it for each subscription it is
        for. Never waits: the hub hands the same message to every socket in turn."""
        if self.closing:
            return
        for subscription_id, plan in list(self.plans.items()):
            if plan.group != message.get("group") or not plan.accepts(message):
                continue
            try:
                self.queue.put_nowait((subscription_id, plan, message))
                SHARED.start(plan, message)
            except asyncio.QueueFull:
                # In a task: the close frame waits behind what the client has not read,
                # and this socket's channel must not block meanwhile (later events drop).
                self._spawn(self._close(
                    protocol.TOO_SLOW,
                    f"Subscriber too slow: {self.queue.maxsize} events waiting to be sent."))
                self.closing = True
                return

    async def _send_events(self) -> None:
        while True:
            subscription_id, plan, message = await self.queue.get()
            if self.closing:
                return
            if self.plans.get(subscription_id) is not plan:
                continue  # completed since
            rendered = await SHARED.render(plan, message)
            if self.plans.get(subscription_id) is plan:
                await self.send(text_data=protocol.next_message(subscription_id, rendered))
                DELIVERED.inc()

    # --- the key's life --------------------------------------------------------------

    async def _init_deadline(self) -> None:
        await asyncio.sleep(settings.GRAPHQL_WS_INIT_TIMEOUT_SECONDS)
        if self.principal is None:
            await self._close(protocol.INIT_TIMEOUT, "Connection initialisation timeout.")

    async def _recheck_key(self) -> None:
        while True:
            await asyncio.sleep(settings.GRAPHQL_WS_KEY_RECHECK_SECONDS)
            try:
                await self._authenticate(self.token)
            except AuthError as exc:
                await self._close(protocol.FORBIDDEN, _forbidden(exc))
                return
            # Keep the key's slots alive (the hub renews the group memberships).
            await run_sync(key_limits.refresh_slots, self.principal,
                           [self._slot(sid) for sid in self.plans])

    # --- closing ---------------------------------------------------------------------

    def _slot(self, subscription_id: str) -> str:
        return f"{self.socket_id}|{subscription_id}"

    async def _free(self, subscription_ids: list[str]) -> None:
        if self.principal is not None and subscription_ids:
            await run_sync(key_limits.free_slots, self.principal,
                           [self._slot(sid) for sid in subscription_ids])

    def _spawn(self, coroutine: Any) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coroutine)
        task.add_done_callback(self._task_done)
        self.tasks.append(task)
        return task

    def _task_done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("graphql-ws socket task failed", tenant=self.tenant,
                      exc_info=task.exception())

    async def _close(self, code: int, reason: str) -> None:
        if self.closed:
            return
        self.closed = self.closing = True
        CLOSED.labels(code=str(code)).inc()
        encoded = reason.encode()[:_MAX_REASON].decode("utf-8", "ignore")
        await self.close(code=code, reason=encoded)

    async def disconnect(self, code: int) -> None:
        self.closing = True
        OPEN_SOCKETS.dec()
        current = asyncio.current_task()
        for task in self.tasks:
            if task is not current:
                task.cancel()
        for group in list(self.joined):
            await hub().leave(group, self)
        self.joined.clear()
        await self._free(list(self.plans))
        self.plans.clear()
