"""What the relay tells operators about a batch: a publish span per trace, batch sizes.

A row carries the ``traceparent`` of the work that wrote it (a poll, a webhook, a saga
step). The relay continues that trace with a PRODUCER span and sends the span's own
context in the Kafka headers, so the consumer's spans hang under the publish, which hangs
under the write: one trace id from the edge to the catalog. Rows of one trace share one
span (a poll writes hundreds of rows in one trace: one span, not hundreds).
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Sequence
from dataclasses import dataclass, field

from opentelemetry import propagate, trace
from prometheus_client import Histogram

from dictamesh.events.producer import Delivery, OutgoingRecord

tracer = trace.get_tracer(__name__)
TRACE_HEADERS = frozenset({"traceparent", "tracestate"})  # W3C trace context

# The specification's name; per physical topic, i.e. per tenant and event type.
BATCH_SIZE = Histogram(
    "kafka_producer_batch_size", "Records the outbox relay sent to a topic in one batch.",
    ["topic"], buckets=(1, 5, 10, 25, 50, 100, 250, 500, 1000, 2000, 5000))


@dataclass
class PublishTrace:
    """The batch's records with their headers pointing at the publish spans."""

    records: list[OutgoingRecord]
    _spans: list[trace.Span] = field(default_factory=list)
    _span_of: list[int | None] = field(default_factory=list)  # per record

    def settle(self, delivery: Delivery) -> None:
        """Mark spans whose records failed, end them all, and count the batch."""
        failed = {self._span_of[i] for i in delivery.failed if i < len(self._span_of)}
        for index, span in enumerate(self._spans):
            if index in failed:
                span.set_status(trace.StatusCode.ERROR, delivery.error or "not acknowledged")
            span.end()
        for topic, count in Tally(record.topic for record in self.records).items():
            BATCH_SIZE.labels(topic).observe(count)


def trace_publish(records: Sequence[OutgoingRecord]) -> PublishTrace:
    """Start the publish spans of ``records`` (end them with ``settle``)."""
    result = PublishTrace([])
    by_parent: dict[tuple[str, str], tuple[int, tuple[tuple[str, str], ...]]] = {}
    # Per headers object (records of one change share theirs): its span and new headers,
    # worked out once. ``records`` keeps each object alive, so its id() stays its own.
    rewritten: dict[int, tuple[int | None, Sequence[tuple[str, str]]]] = {}
    for record in records:
        known = rewritten.get(id(record.headers))
        if known is None:
            known = rewritten[id(record.headers)] = _rewrite(record.headers, by_parent, result)
        index, headers = known
        if index is None:
            result.records.append(record)
        else:
            # Not dataclasses.replace, which costs several times this per record.
            result.records.append(OutgoingRecord(record.topic, record.key, record.value,
                                                 headers))
        result._span_of.append(index)
    counts = Tally(i for i in result._span_of if i is not None)
    for index, span in enumerate(result._spans):
        span.set_attribute("messaging.batch.message_count", counts[index])
    return result


def _rewrite(
    headers: Sequence[tuple[str, str]],
    by_parent: dict[tuple[str, str], tuple[int, tuple[tuple[str, str], ...]]],
    result: PublishTrace,
) -> tuple[int | None, Sequence[tuple[str, str]]]:
    """The publish span (index) of records with ``headers`` and the headers they go out
    with: the trace context replaced by the span's own; (None, headers) without one."""
    carried = {name: value for name, value in headers if name in TRACE_HEADERS}
    if "traceparent" not in carried:
        return None, headers
    parent = (carried["traceparent"], carried.get("tracestate", ""))
    if parent not in by_parent:
        span = tracer.start_span(
            "outbox publish", context=propagate.extract(carried),
            kind=trace.SpanKind.PRODUCER,
            attributes={"messaging.system": "kafka", "messaging.operation.type": "send"})
        own: dict[str, str] = {}
        propagate.inject(own, context=trace.set_span_in_context(span))
        by_parent[parent] = (len(result._spans), tuple(own.items()))
        result._spans.append(span)
    index, own_headers = by_parent[parent]
    return index, tuple((n, v) for n, v in headers if n not in TRACE_HEADERS) + own_headers
