"""Log lines are JSON objects carrying the tenant and the trace id."""

from __future__ import annotations

import io
import json
import logging

from django_tenants.utils import schema_context
from opentelemetry import trace

from dictamesh.observability.logging import build_logging_config


def _json_handler(stream: io.StringIO) -> logging.Handler:
    config = build_logging_config(level="INFO", fmt="json")
    formatter_config = dict(config["formatters"]["structured"])
    factory = formatter_config.pop("()")
    handler = logging.StreamHandler(stream)
    handler.setFormatter(factory(**formatter_config))
    return handler


def test_a_log_line_is_json_with_tenant_and_trace_id(tenant_a):
    stream = io.StringIO()
    logger = logging.getLogger("dictamesh.test")
    handler = _json_handler(stream)
    logger.addHandler(handler)
    try:
        tracer = trace.get_tracer("test")
        with schema_context(tenant_a.schema_name), tracer.start_as_current_span("work") as span:
            logger.warning("customer %s fetched", "cust-1")
            trace_id = format(span.get_span_context().trace_id, "032x")
    finally:
        logger.removeHandler(handler)

    lines = stream.getvalue().splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert record["event"] == "customer cust-1 fetched"
    assert record["level"] == "warning"
    assert record["tenant"] == tenant_a.schema_name
    assert record["trace_id"] == trace_id
    assert "timestamp" in record


def test_public_schema_logs_carry_no_tenant(db):
    stream = io.StringIO()
    logger = logging.getLogger("dictamesh.test.public")
    handler = _json_handler(stream)
    logger.addHandler(handler)
    try:
        logger.info("started")
    finally:
        logger.removeHandler(handler)
    record = json.loads(stream.getvalue())
    assert "tenant" not in record
