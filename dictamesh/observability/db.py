"""Named database operations: a span and ``postgres_query_duration_seconds{query}`` each.

psycopg's instrumentation already makes a span per SQL statement; operators think in
operations ("register_entities took 80 ms at p99"), so the catalog's doors name theirs.
The label is the operation's name, never the SQL text: bounded cardinality.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from opentelemetry import trace
from prometheus_client import Histogram

P = ParamSpec("P")
R = TypeVar("R")

tracer = trace.get_tracer(__name__)

QUERY_SECONDS = Histogram(
    "postgres_query_duration_seconds",
    "Duration of a named database operation (its statements, not the transaction).",
    ["query"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)


def db_operation(name: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorate a function that talks to PostgreSQL: its calls are spans named
    ``db <name>`` and observations of ``postgres_query_duration_seconds{query=name}``."""

    def decorate(function: Callable[P, R]) -> Callable[P, R]:
        histogram = QUERY_SECONDS.labels(name)
        span_name = f"db {name}"

        @functools.wraps(function)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            started = time.perf_counter()
            try:
                with tracer.start_as_current_span(span_name,
                                                  attributes={"db.operation.name": name}):
                    return function(*args, **kwargs)
            finally:
                histogram.observe(time.perf_counter() - started)
        return wrapper
    return decorate
