"""The WebSocket side of the ASGI application: the tenant from the host, then `/graphql`."""

from __future__ import annotations

from typing import Any

from channels.routing import URLRouter
from django.urls import path

from apps.federation.subscriptions.consumer import GraphQLSubscriptionConsumer
from apps.federation.subscriptions.threads import run_sync
from apps.tenancy.services import schema_for_host


def _host(scope: dict[str, Any]) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"host":
            return bytes(value).decode("latin-1")
    return ""


class TenantFromHost:
    """Put the schema of the tenant the Host header routes to in ``scope["tenant_schema"]``
    (None for a host of no tenant), as django-tenants' middleware does for HTTP."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        schema = await run_sync(schema_for_host, _host(scope))
        return await self.inner({**scope, "tenant_schema": schema}, receive, send)


def websocket_application() -> Any:
    return TenantFromHost(URLRouter([
        path("graphql", GraphQLSubscriptionConsumer.as_asgi()),
    ]))
