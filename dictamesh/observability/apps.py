from __future__ import annotations

from django.apps import AppConfig
from django.conf import settings


class ObservabilityConfig(AppConfig):
    name = "dictamesh.observability"
    label = "observability"
    verbose_name = "Observability"

    def ready(self) -> None:
        from dictamesh.observability.tracing import configure_tracing

        configure_tracing(
            service_name=settings.SERVICE_NAME,
            otlp_endpoint=settings.OTEL_EXPORTER_OTLP_ENDPOINT,
        )
