"""The thread pool every blocking call of the sockets runs on (ORM, Redis, execution).

One pool of our own rather than asgiref's: its size is a setting (GRAPHQL_WS_THREADS),
and `close()` can reach each of its threads to close their database connections, which
Django keeps per thread (a server that stops must not leave sessions open).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, TypeVar

from django.conf import settings
from django.db import close_old_connections, connections

T = TypeVar("T")
_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=settings.GRAPHQL_WS_THREADS,
                                       thread_name_prefix="graphql-ws")
        return _pool


def _call(function: Callable[..., T], *args: Any) -> T:
    close_old_connections()  # as Django does around a request: drop broken or aged ones
    return function(*args)


def submit(function: Callable[..., T], *args: Any) -> asyncio.Future[T]:
    """``function(*args)`` on the pool, started now (not when the caller next awaits)."""
    return asyncio.get_running_loop().run_in_executor(
        _executor(), partial(_call, function, *args))


async def run_sync(function: Callable[..., T], *args: Any) -> T:
    """``function(*args)`` on the pool, awaited."""
    return await submit(function, *args)


def close() -> None:
    """Close every pool thread's database connections and stop the pool (a new one starts
    on the next call). Each thread runs one closing job: they wait for each other."""
    global _pool
    with _lock:
        pool, _pool = _pool, None
    if pool is None:
        return
    workers = len(pool._threads)  # noqa: SLF001 - the threads to reach, no public API
    if workers:
        barrier = threading.Barrier(workers)

        def close_this_threads_connections() -> None:
            connections.close_all()
            barrier.wait(timeout=30)

        for _ in range(workers):
            pool.submit(close_this_threads_connections)
    pool.shutdown(wait=True)
