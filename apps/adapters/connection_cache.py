"""Each tenant's enabled source connections, remembered per process.

Every loader batch of a GraphQL request asks which source serves an entity type; reading the
`source_connection` table each time was three of a warm nested query's eight SQL
statements. The rows change rarely and only through `connect_source` or the admin
(`SourceConnection.save()` / `.delete()`), which call :func:`forget` for the tenant: this
process forgets at once, the others when the change commits, through the L1 invalidation
bus. ``CACHE_L1_TTL_SECONDS`` (how long a process trusts its own copy of anything) bounds
what a lost bus message or a bulk ``update()`` that bypasses ``save()`` can leave behind.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from django.conf import settings
from django.db import transaction

from dictamesh.cache import get_invalidation_bus
from dictamesh.tenancy import current_schema

#: the bus message's "entity type": not an entity, the tenant's connection list
CONNECTIONS_CHANGED = "source_connection"


class _TenantConnections:
    """The bus listener's view of this cache (``LocalEvictable``)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rows: dict[str, tuple[float, list[Any]]] = {}
        self._listening = False

    def get(self, tenant: str, read: Callable[[], list[Any]]) -> list[Any]:
        now = time.monotonic()
        with self._lock:
            cached = self._rows.get(tenant)
        if cached is not None and cached[0] > now:
            return cached[1]
        self._listen()
        rows = read()
        with self._lock:
            self._rows[tenant] = (now + float(settings.CACHE_L1_TTL_SECONDS), rows)
        return rows

    def evict_local(self, schema: str, entity_type: str, ids: Sequence[str]) -> None:
        if entity_type == CONNECTIONS_CHANGED:
            with self._lock:
                self._rows.pop(schema, None)

    def clear_local(self) -> None:
        with self._lock:
            self._rows.clear()

    def _listen(self) -> None:
        if not self._listening:
            self._listening = True
            get_invalidation_bus().register(self)


_cache = _TenantConnections()


def enabled_connections(read: Callable[[], list[Any]]) -> list[Any]:
    """The current tenant's enabled connections: ``read()`` once per tenant and
    ``CACHE_L1_TTL_SECONDS``, or until :func:`forget`."""
    return _cache.get(current_schema(), read)


def forget(name: str = "") -> None:
    """The current tenant's connections changed: forget them here now, and in every other
    process once the change commits."""
    tenant = current_schema()
    _cache.evict_local(tenant, CONNECTIONS_CHANGED, [name])

    def committed() -> None:  # again: another thread may have read the old rows meanwhile
        _cache.evict_local(tenant, CONNECTIONS_CHANGED, [name])
        get_invalidation_bus().publish(tenant, CONNECTIONS_CHANGED, [name])

    transaction.on_commit(committed)


def forget_all() -> None:
    """Forget every tenant's connections in this process (tests: a rolled-back transaction
    takes its connections with it, and no save() says so)."""
    _cache.clear_local()
