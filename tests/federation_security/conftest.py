"""Fixtures for the GraphQL security tests: tenant hosts, requests routed like production."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory
from django_tenants.middleware.main import TenantMainMiddleware

from apps.tenancy.graphql_limits import clear_cache
from dictamesh.tenancy import activate_public_schema


@pytest.fixture(autouse=True)
def _tenant_hosts_allowed(settings):
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, ".testserver"]


@pytest.fixture(autouse=True)
def _fresh_limits_cache():
    clear_cache()
    yield
    clear_cache()


@pytest.fixture
def routed() -> Callable[..., Any]:
    """``routed(host, view, **headers)``: run ``view(request)`` behind django-tenants'
    middleware for a request to ``host``, as the /graphql view will be run."""

    def run(host: str, view: Callable[[HttpRequest], Any], **headers: str) -> Any:
        outcome: dict[str, Any] = {}

        def handler(request: HttpRequest) -> HttpResponse:
            try:
                outcome["value"] = view(request)
            except Exception as exc:
                outcome["error"] = exc
            return HttpResponse()

        meta: dict[str, Any] = {"HTTP_HOST": host, **headers}
        request = RequestFactory().generic("POST", "/graphql", **meta)
        try:
            TenantMainMiddleware(handler)(request)
        finally:
            activate_public_schema()
        if "error" in outcome:
            raise outcome["error"]
        return outcome["value"]

    return run
