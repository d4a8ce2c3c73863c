"""JSON logs: one object per line, with the tenant and the trace id when there is one.

structlog renders every record, including those of the standard library loggers used by
Django, Celery and kafka-python, so all of a process' output has one shape.
"""

from __future__ import annotations

from typing import Any

import structlog
from opentelemetry import trace


def add_tenant(_: Any, __: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """Add the schema of the tenant this thread is working for (absent for public)."""
    from dictamesh.tenancy import current_schema

    schema = current_schema()
    if schema and schema != "public":
        event_dict.setdefault("tenant", schema)
    return event_dict


def add_trace_context(_: Any, __: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """Add the active OpenTelemetry trace and span ids, so logs join their traces."""
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        event_dict.setdefault("trace_id", format(context.trace_id, "032x"))
        event_dict.setdefault("span_id", format(context.span_id, "016x"))
    return event_dict


SHARED_PROCESSORS: list[Any] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
    add_tenant,
    add_trace_context,
]


def build_logging_config(level: str = "INFO", fmt: str = "json") -> dict[str, Any]:
    """A ``logging.config.dictConfig`` for Django's LOGGING setting.

    ``fmt`` is ``json`` (production, the default) or ``console`` (readable in a terminal).
    """
    structlog.configure(
        processors=[
            *SHARED_PROCESSORS,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    renderer: Any = (
        structlog.dev.ConsoleRenderer(colors=False)
        if fmt == "console"
        else structlog.processors.JSONRenderer()
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "structured": {
                "()": structlog.stdlib.ProcessorFormatter,
                "processors": [
                    structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info,
                    renderer,
                ],
                "foreign_pre_chain": SHARED_PROCESSORS,
            }
        },
        "handlers": {
            "stdout": {"class": "logging.StreamHandler", "formatter": "structured"},
        },
        "root": {"handlers": ["stdout"], "level": level},
        "loggers": {
            "django.db.backends": {"level": "INFO"},
            "kafka": {"level": "WARNING"},
        },
    }


def get_logger(name: str) -> Any:
    return structlog.get_logger(name)
