"""OpenTelemetry's Django middleware, made safe for paths outside Latin-1.

Django's WSGIRequest replaces ``META["PATH_INFO"]`` with the decoded path (say
``/schema-registry/subjects/€/versions``), while OpenTelemetry's WSGI helpers rebuild the
URL with ``wsgiref.util.request_uri``, which encodes PATH_INFO as Latin-1, as the WSGI
spec says it is: any character above U+00FF raised UnicodeEncodeError in the tracing
middleware, before any view, and the request ended as a 500. This subclass hands the
helpers the path in its WSGI form (UTF-8 bytes read as Latin-1, which is what the server
put there) while the span is started, and puts Django's form back at once.
"""

from __future__ import annotations

from typing import Any

from opentelemetry.instrumentation.django.middleware.otel_middleware import _DjangoMiddleware

#: where DjangoInstrumentor puts its middleware, and what replaces it
OTEL_MIDDLEWARE = f"{_DjangoMiddleware.__module__}.{_DjangoMiddleware.__qualname__}"
SAFE_MIDDLEWARE = f"{__name__}.TracingMiddleware"


def wsgi_form(path: str) -> str:
    """``path`` as a WSGI server puts it in PATH_INFO: every character Latin-1."""
    try:
        path.encode("latin-1")
    except UnicodeEncodeError:
        return path.encode("utf-8", "surrogatepass").decode("latin-1")
    return path


class TracingMiddleware(_DjangoMiddleware):
    def process_request(self, request: Any) -> None:
        meta = request.META
        path = meta.get("PATH_INFO")
        if not isinstance(path, str) or path.isascii():
            super().process_request(request)
            return
        meta["PATH_INFO"] = wsgi_form(path)
        try:
            super().process_request(request)
        finally:
            meta["PATH_INFO"] = path


def use_safe_middleware(settings: Any) -> None:
    """Swap DjangoInstrumentor's middleware entry in ``settings.MIDDLEWARE`` for ours."""
    middleware = list(settings.MIDDLEWARE)
    if OTEL_MIDDLEWARE in middleware:
        middleware[middleware.index(OTEL_MIDDLEWARE)] = SAFE_MIDDLEWARE
        settings.MIDDLEWARE = middleware
