"""Log lines are JSON objects carrying the tenant and the trace id."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager

import structlog
from django_tenants.utils import schema_context
from opentelemetry import trace

from dictamesh.observability.logging import structured_handler


@contextmanager
def _captured(name: str) -> Iterator[io.StringIO]:
    """What the logger ``name`` writes, as the platform's JSON lines."""
    stream = io.StringIO()
    logger = logging.getLogger(name)
    handler = structured_handler(stream)
    logger.addHandler(handler)
    try:
        yield stream
    finally:
        logger.removeHandler(handler)


def test_a_log_line_is_json_with_tenant_and_trace_id(tenant_a):
    logger = logging.getLogger("dictamesh.test")
    with _captured("dictamesh.test") as stream:
        tracer = trace.get_tracer("test")
        with schema_context(tenant_a.schema_name), tracer.start_as_current_span("work") as span:
            logger.warning("customer %s fetched", "cust-1")
            trace_id = format(span.get_span_context().trace_id, "032x")

    lines = stream.getvalue().splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert record["event"] == "customer cust-1 fetched"
    assert record["level"] == "warning"
    assert record["tenant"] == tenant_a.schema_name
    assert record["trace_id"] == trace_id
    assert "timestamp" in record


def test_public_schema_logs_carry_no_tenant(db):
    with _captured("dictamesh.test.public") as stream:
        logging.getLogger("dictamesh.test.public").info("started")
    record = json.loads(stream.getvalue())
    assert "tenant" not in record


def test_credentials_never_reach_a_log_line(db):
    logger = logging.getLogger("dictamesh.test.secrets")
    with _captured("dictamesh.test.secrets") as stream:
        logger.error("cannot connect to %s", "postgres://dictamesh:s3cret-pw@db:5432/dm")
        logger.warning("kafka config: sasl_plain_password='s3cret-pw' security_protocol=SASL")
        try:
            raise ConnectionError("redis://:s3cret-pw@cache:6379/0 refused")
        except ConnectionError:
            logger.exception("cache down")
        structlog.get_logger("dictamesh.test.secrets").info(
            "source connected", credentials={"token": "s3cret-pw"}, api_key="s3cret-pw",
            api_key_prefix="dm_ab12")
    text = stream.getvalue()
    assert "s3cret-pw" not in text
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    assert lines[0]["event"] == "cannot connect to postgres://***@db:5432/dm"
    assert lines[-1]["api_key_prefix"] == "dm_ab12"  # a prefix names no secret
    assert lines[-1]["credentials"] == "***"
