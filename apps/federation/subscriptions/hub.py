"""One channel per process on the channel layer, fanned out to the process' sockets.

Each socket joining the layer's groups itself would cost Redis one message per socket per
event (channels-redis pushes a copy into every member channel): at a thousand sockets that
is a thousand Redis writes and reads per event. Instead the process joins a group once,
for as long as any of its sockets follows it, reads each event once, and hands it to
those sockets in memory (`deliver`, which only queues, so one slow socket delays nobody).
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Any, Protocol

from channels.layers import get_channel_layer
from django.conf import settings

from dictamesh.observability.logging import get_logger

log = get_logger(__name__)
_RETRY_SECONDS = 1.0


class Receiver(Protocol):
    def deliver(self, message: dict[str, Any]) -> None: ...


class LiveHub:
    def __init__(self) -> None:
        self.layer = get_channel_layer()
        self.channel: str | None = None
        self.members: dict[str, set[Receiver]] = {}
        self._lock = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []

    async def join(self, group: str, receiver: Receiver) -> None:
        async with self._lock:
            if self.channel is None:
                # The default prefix: channels-redis reads every process-local channel
                # through one Redis key per prefix and one lock, so another prefix would
                # wait on the sockets' own receives.
                self.channel = await self.layer.new_channel()
                loop = asyncio.get_running_loop()
                self._tasks = [loop.create_task(self._read()), loop.create_task(self._renew())]
            if not self.members.get(group):
                await self.layer.group_add(group, self.channel)
            self.members.setdefault(group, set()).add(receiver)

    async def leave(self, group: str, receiver: Receiver) -> None:
        async with self._lock:
            members = self.members.get(group)
            if members is None:
                return
            members.discard(receiver)
            if not members:
                del self.members[group]
                if self.channel is not None:
                    await self.layer.group_discard(group, self.channel)

    async def _read(self) -> None:
        assert self.channel is not None  # noqa: S101 - started by join() after it is set
        while True:
            try:
                message = await self.layer.receive(self.channel)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - Redis away: keep the hub, try again
                log.exception("live events unreadable from the channel layer; retrying")
                await asyncio.sleep(_RETRY_SECONDS)
                continue
            for receiver in list(self.members.get(message.get("group", ""), ())):
                receiver.deliver(message)

    async def _renew(self) -> None:
        """The layer forgets memberships after its group_expiry: renew them meanwhile."""
        while True:
            await asyncio.sleep(settings.GRAPHQL_WS_KEY_RECHECK_SECONDS)
            try:
                for group in list(self.members):
                    await self.layer.group_add(group, self.channel)
            except Exception:  # noqa: BLE001 - next time, then
                log.exception("live group memberships not renewed; retrying")


_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LiveHub] = \
    weakref.WeakKeyDictionary()


def hub() -> LiveHub:
    """The hub of the running event loop (one per server process)."""
    loop = asyncio.get_running_loop()
    found = _hubs.get(loop)
    if found is None:
        found = _hubs[loop] = LiveHub()
    return found
