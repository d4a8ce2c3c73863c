"""OpenTelemetry tracing for Django, Celery, psycopg, Redis and requests.

Spans are always created (so logs carry trace ids and trace context can travel in Kafka
headers); they are exported over OTLP/HTTP only when an endpoint is configured.
"""

from __future__ import annotations

import threading

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

_configured = False
_lock = threading.Lock()


def configure_tracing(service_name: str, otlp_endpoint: str = "") -> TracerProvider | None:
    """Install the tracer provider and instrumentations once per process."""
    global _configured
    with _lock:
        if _configured:
            return None
        _configured = True
        provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
        if otlp_endpoint:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            endpoint = otlp_endpoint.rstrip("/")
            if not endpoint.endswith("/v1/traces"):
                endpoint += "/v1/traces"
            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
        trace.set_tracer_provider(provider)
        _instrument_libraries()
        return provider


def _instrument_libraries() -> None:
    from django.conf import settings
    from opentelemetry.instrumentation.celery import CeleryInstrumentor
    from opentelemetry.instrumentation.django import DjangoInstrumentor
    from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor
    from opentelemetry.instrumentation.requests import RequestsInstrumentor

    from dictamesh.observability.wsgi_path import use_safe_middleware

    DjangoInstrumentor().instrument()
    use_safe_middleware(settings)  # paths outside Latin-1 crashed the instrumentor's own
    CeleryInstrumentor().instrument()
    PsycopgInstrumentor().instrument(skip_dep_check=True, enable_commenter=False)
    RedisInstrumentor().instrument()
    RequestsInstrumentor().instrument()


def get_tracer(name: str) -> trace.Tracer:
    return trace.get_tracer(name)
