"""Read replicas for catalog reads, and read-your-own-writes on the primary.

Replicas are opt-in per read: a service function decorated with :func:`replica_read`
(graph traversal, lineage, event history, which the catalog admin's entity page shows too)
may be answered by a replica; every other query goes to the primary, as before. Inside
such a read the router picks a replica, unless one of these keeps the read on the primary:

- the primary's connection is inside a transaction (``atomic``): the read must see the
  transaction's own writes, and a replica could not see them before the commit;
- this request (or Celery task, or the thread's life outside them) has written to the
  primary: a replica may lag, so the client that just wrote would not see its write. Any
  statement on the primary that may change data counts (raw SQL included, which never asks
  a router; see :func:`may_write`); a request or task starts unpinned;
- a replica failed to answer: it is left out for ``DATABASE_REPLICA_RETRY_SECONDS`` and the
  read is answered by the primary.

django-tenants keeps the active schema on the primary's connection (``set_tenant``,
``schema_context``); the replica's connection follows it before each routed read, so the
replica runs ``SET search_path`` to the same tenant schema.
"""

from __future__ import annotations

import functools
import itertools
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, ParamSpec, TypeVar

from django.conf import settings
from django.core.signals import request_started
from django.db import DEFAULT_DB_ALIAS, InterfaceError, OperationalError, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.signals import connection_created

P = ParamSpec("P")
R = TypeVar("R")

log = logging.getLogger(__name__)

# Statements that cannot change data; anything else on the primary pins reads to it.
_READ_ONLY_STATEMENTS = ("SELECT", "SET ", "SHOW", "SAVEPOINT", "RELEASE", "ROLLBACK",
                         "EXPLAIN")
# A WITH query writes when one of its parts does (a false alarm only costs replica reads).
_WRITING_WORD = re.compile(r"\b(?:INSERT|UPDATE|DELETE|MERGE|TRUNCATE)\b", re.IGNORECASE)

_in_replica_read: ContextVar[bool] = ContextVar("dictamesh_replica_read", default=False)
_pinned_to_primary: ContextVar[bool] = ContextVar("dictamesh_pinned_to_primary",
                                                  default=False)
_replica_used: ContextVar[str | None] = ContextVar("dictamesh_replica_used", default=None)

_round_robin = itertools.count()
_unhealthy_until: dict[str, float] = {}
_health_lock = threading.Lock()


def replica_aliases() -> list[str]:
    """The database aliases of the configured replicas (``DATABASE_REPLICA_URLS``)."""
    return list(settings.DATABASE_REPLICAS)


# --- read-your-own-writes -----------------------------------------------------------------

def pin_to_primary() -> None:
    """Keep this context's reads on the primary until it is unpinned (its next request or
    task): called on every write to the primary."""
    _pinned_to_primary.set(True)


def unpin() -> None:
    """A new unit of work (request, task) starts: its reads may use replicas again."""
    _pinned_to_primary.set(False)


def is_pinned() -> bool:
    return _pinned_to_primary.get()


def may_write(sql: object) -> bool:
    """Whether a statement sent to the primary may change data (if unsure: yes)."""
    if not isinstance(sql, str):
        return True
    head = sql.lstrip()[:9].upper()
    if head.startswith(_READ_ONLY_STATEMENTS):
        return False
    if head.startswith("WITH"):
        return _WRITING_WORD.search(sql) is not None
    return True


def _pin_on_write(execute: Callable[..., Any], sql: Any, params: Any, many: bool,
                  context: dict[str, Any]) -> Any:
    if may_write(sql):
        _pinned_to_primary.set(True)
    return execute(sql, params, many, context)


def _watch_primary_writes(sender: Any, connection: BaseDatabaseWrapper, **_: Any) -> None:
    if connection.alias != DEFAULT_DB_ALIAS or _pin_on_write in connection.execute_wrappers:
        return
    # First in the list: a caller's ``with connection.execute_wrapper(...)`` pops the last.
    connection.execute_wrappers.insert(0, _pin_on_write)


def _unpin_on_new_unit(*_: Any, **__: Any) -> None:
    unpin()


def connect_signals() -> None:
    """Watch the primary's connections for writes; unpin at each request and Celery task."""
    from celery.signals import task_prerun

    connection_created.connect(_watch_primary_writes, dispatch_uid="dictamesh-replica-pin")
    request_started.connect(_unpin_on_new_unit, dispatch_uid="dictamesh-replica-unpin")
    task_prerun.connect(_unpin_on_new_unit, dispatch_uid="dictamesh-replica-unpin-task",
                        weak=False)


# --- choosing the connection of a read ----------------------------------------------------

def _healthy(aliases: list[str]) -> list[str]:
    now = time.monotonic()
    with _health_lock:
        return [alias for alias in aliases if _unhealthy_until.get(alias, 0.0) <= now]


def mark_unhealthy(alias: str) -> None:
    """Leave ``alias`` out of replica reads for ``DATABASE_REPLICA_RETRY_SECONDS``."""
    with _health_lock:
        _unhealthy_until[alias] = time.monotonic() + settings.DATABASE_REPLICA_RETRY_SECONDS
    connections[alias].close()


def forget_failures() -> None:
    """Let every replica answer again at once (after an operator brought one back)."""
    with _health_lock:
        _unhealthy_until.clear()


def read_alias() -> str:
    """The alias that answers a read made now: a replica inside :func:`replica_read` when
    nothing keeps the read on the primary, else the primary."""
    if not _in_replica_read.get() or _pinned_to_primary.get():
        return DEFAULT_DB_ALIAS
    primary = connections[DEFAULT_DB_ALIAS]
    if primary.in_atomic_block:
        return DEFAULT_DB_ALIAS
    candidates = _healthy(replica_aliases())
    if not candidates:
        return DEFAULT_DB_ALIAS
    alias = candidates[next(_round_robin) % len(candidates)]
    _follow_tenant(primary, connections[alias])
    _replica_used.set(alias)
    return alias


def read_connection() -> BaseDatabaseWrapper:
    """The connection for raw SQL reads (``with read_connection().cursor() as c``)."""
    return connections[read_alias()]


def _follow_tenant(primary: Any, replica: Any) -> None:
    """Point the replica's connection at the primary's tenant schema (django-tenants)."""
    if (replica.schema_name != primary.schema_name
            or replica.include_public_schema != primary.include_public_schema):
        replica.set_tenant(primary.tenant, include_public=primary.include_public_schema)


@contextmanager
def primary_reads() -> Iterator[None]:
    """Keep the reads of a block on the primary (e.g. a read that decides a write)."""
    token = _in_replica_read.set(False)
    try:
        yield
    finally:
        _in_replica_read.reset(token)


def replica_read(func: Callable[P, R]) -> Callable[P, R]:
    """Let ``func``'s reads be answered by a replica (see the module's rules). A replica
    that fails to answer is left out for a while and ``func`` runs again on the primary."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        if _in_replica_read.get() or not replica_aliases():
            return func(*args, **kwargs)
        scope, used = _in_replica_read.set(True), _replica_used.set(None)
        try:
            return func(*args, **kwargs)
        except (OperationalError, InterfaceError) as exc:
            failed = _replica_used.get()
            if failed is None:
                raise
            log.warning("replica %s failed (%s); reading from the primary", failed, exc)
            mark_unhealthy(failed)
            with primary_reads():
                return func(*args, **kwargs)
        finally:
            _replica_used.reset(used)
            _in_replica_read.reset(scope)

    return wrapper


class ReplicaRouter:
    """Django database router: replica reads as decided by :func:`read_alias`; writes and
    migrations on the primary only (replicas are read-only copies of it)."""

    def db_for_read(self, model: Any, **hints: Any) -> str | None:
        alias = read_alias()
        return None if alias == DEFAULT_DB_ALIAS else alias

    def db_for_write(self, model: Any, **hints: Any) -> str | None:
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool | None:
        # Objects read from a replica are the primary's rows: relating them is fine.
        return True

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool | None:
        return False if db in replica_aliases() else None
