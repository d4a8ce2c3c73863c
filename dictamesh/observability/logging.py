"""JSON logs: one object per line, with the tenant and the trace id when there is one.

structlog renders every record, including those of the standard library loggers used by
Django, Celery and kafka-python, so all of a process' output has one shape.
"""

from __future__ import annotations

import logging
import re
import sys
from typing import IO, Any

import structlog
from opentelemetry import trace

from dictamesh.health.redact import redact_userinfo

# Fields of gunicorn's access log lines (dictamesh/observability/gunicorn_logging.py),
# passed as ``extra``; only these extras become fields, so an object a library hangs on
# its records (Django's ``request``) never lands in a log line.
ACCESS_FIELDS = ("method", "path", "query", "status", "duration_ms", "bytes", "remote_addr",
                 "user_agent", "referer", "protocol")

# Keys whose values are secrets, wherever they appear in a line's fields.
_SECRET_KEY = re.compile(r"pass(word|wd)?|secret|token|api_?key|authorization|credential",
                         re.IGNORECASE)
# key=value / key: value pairs inside text (libpq DSNs, kafka-python's config dumps).
_SECRET_PAIR = re.compile(
    r"(?P<key>\b(?:password|passwd|pwd|secret|token|api_?key|sasl_plain_password)"
    r"['\"]?\s*[=:]\s*['\"]?)(?P<value>[^\s'\",;&}]+)", re.IGNORECASE)
REDACTED = "***"


def add_tenant(_: Any, __: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """Add the schema of the tenant this thread is working for (absent for public)."""
    from django.apps import apps

    if not apps.ready:  # gunicorn's master, Celery before Django: no connection to ask
        return event_dict
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


def redact_text(text: str) -> str:
    """``text`` without URL user-info and without the values of ``password=...`` pairs."""
    return _SECRET_PAIR.sub(rf"\g<key>{REDACTED}", redact_userinfo(text))


def _is_secret_key(key: Any) -> bool:
    # An API key's prefix or a token count names no secret: the audit trail needs them.
    return (isinstance(key, str) and bool(_SECRET_KEY.search(key))
            and not key.endswith(("_prefix", "_id", "_count", "_seconds")))


def _redact(value: Any) -> Any:
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: REDACTED if _is_secret_key(k) and v else _redact(v)
                for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact(item) for item in value]
    return value


def redact_value(value: Any) -> Any:
    """``value`` (text, or dicts and lists of it) without credentials, for anything that is
    stored or shown rather than logged (audit details)."""
    return _redact(value)


def redact_secrets(_: Any, __: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """Last before rendering (after the traceback is text): no credential reaches a log,
    whether a field is named like one or a message quotes a connection string."""
    return _redact(event_dict)


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
                    redact_secrets,
                    renderer,
                ],
                "foreign_pre_chain": [*SHARED_PROCESSORS,
                                      structlog.stdlib.ExtraAdder(allow=ACCESS_FIELDS)],
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


def structured_handler(stream: IO[str] | None = None, fmt: str = "json") -> logging.Handler:
    """A handler that writes the platform's structured lines (stderr, as LOGGING does), for
    loggers that other code configures (gunicorn's) and for tests."""
    formatter_config = dict(build_logging_config(fmt=fmt)["formatters"]["structured"])
    factory = formatter_config.pop("()")
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(factory(**formatter_config))
    return handler


def get_logger(name: str) -> Any:
    return structlog.get_logger(name)
