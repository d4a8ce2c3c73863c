"""A span recorder for one test: an in-memory exporter on the process' tracer provider.

One exporter per test, shut down after it (a shut-down exporter drops what later tests
record), never one for the whole session: a shared one grows without bound and its reads
race the consumer threads of other tests.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter


@contextmanager
def recording_spans() -> Iterator[InMemorySpanExporter]:
    provider = trace.get_tracer_provider()
    # dictamesh.observability installs the SDK provider in every process (AppConfig.ready).
    assert isinstance(provider, TracerProvider)
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    try:
        yield exporter
    finally:
        exporter.shutdown()


def named(spans: Sequence[ReadableSpan], prefix: str) -> list[ReadableSpan]:
    return [span for span in spans if span.name.startswith(prefix)]


def one(spans: Sequence[ReadableSpan], prefix: str) -> ReadableSpan:
    found = named(spans, prefix)
    assert len(found) == 1, (prefix, [s.name for s in spans])
    return found[0]


def parent_of(span: ReadableSpan, spans: Sequence[ReadableSpan]) -> ReadableSpan:
    """The finished span that is ``span``'s parent (AssertionError if none is)."""
    assert span.parent is not None, f"{span.name} has no parent"
    for candidate in spans:
        if candidate.context.span_id == span.parent.span_id:
            return candidate
    raise AssertionError(f"the parent of {span.name} was not recorded")


def chain(span: ReadableSpan, spans: Sequence[ReadableSpan]) -> list[str]:
    """The names from ``span`` up to its root, as far as the recorded spans go."""
    names = [span.name]
    ids = {s.context.span_id: s for s in spans}
    while span.parent is not None and span.parent.span_id in ids:
        span = ids[span.parent.span_id]
        names.append(span.name)
    return names


def attribute(span: ReadableSpan, key: str) -> Any:
    """One of the span's attributes (None if it has none by that name)."""
    return dict(span.attributes or {}).get(key)
