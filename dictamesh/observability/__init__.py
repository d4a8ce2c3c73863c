"""Observability base: JSON logs, Prometheus metrics and OpenTelemetry tracing.

Listed in INSTALLED_APPS so that tracing is set up once Django is ready, in every process
role (web, worker, beat, management commands).
"""
