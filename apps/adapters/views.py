"""Webhook receiver: a source (Directus Flows) tells us about changes as they happen.

POST /webhooks/sources/<connection name> on the tenant's host, with the connection's
shared secret in the header the adapter expects. Accepted changes are published like
polled ones (apps.adapters.changes.apply_changes): 202 with the number published. Errors
are JSON ``{"error": {"code", "message"}}`` and publish nothing: 404 (NO_TENANT,
UNKNOWN_SOURCE, NO_WEBHOOKS), 401 BAD_SECRET, 409 SOURCE_DISABLED, 400 (BAD_JSON,
BAD_BODY, BAD_WEBHOOK), 503 SOURCE_UNAVAILABLE with Retry-After.
"""

from __future__ import annotations

import json

from django.db import transaction
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from apps.adapters import services
from apps.adapters.base import AdapterError, SourceUnavailable, WebhookReceiver
from apps.adapters.changes import apply_changes
from apps.adapters.models import ObservationKind, SourceConnection
from apps.adapters.service_levels import record_observation
from dictamesh.resilience import CircuitOpenError
from dictamesh.tenancy import is_public


def _error(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "message": message}}, status=status)


@csrf_exempt
@require_POST
def source_webhook(request: HttpRequest, name: str) -> JsonResponse:
    if is_public():
        return _error(404, "NO_TENANT", "Webhooks are received on a tenant's host name.")
    try:
        data_product = services.data_product_named(name)
    except services.NoSourceFor as exc:
        return _error(404, "UNKNOWN_SOURCE", str(exc))
    adapter = data_product.adapter
    if not isinstance(adapter, WebhookReceiver):
        return _error(404, "NO_WEBHOOKS", f"Source {name!r} ({adapter.name}) takes no webhooks.")
    secret = data_product.connection.credentials.get("webhook_secret", "")
    if not secret or not adapter.verify_webhook(request.headers, secret):
        return _error(401, "BAD_SECRET", "The webhook secret is missing or wrong.")
    if not data_product.connection.enabled:
        # Polling skips a disabled connection; a pushed change must not get past that either.
        # Checked after the secret, so only the source itself learns the connection is off.
        return _error(409, "SOURCE_DISABLED",
                      f"Source connection {name!r} is disabled, so its changes are not "
                      "taken: enable it in the admin (Adapters → Source connections), then "
                      "let its next poll catch up.")
    try:
        body = json.loads(request.body)
    except ValueError:
        return _error(400, "BAD_JSON", "The webhook body is not JSON.")
    if not isinstance(body, dict):
        return _error(400, "BAD_BODY", "The webhook body must be a JSON object.")
    try:
        changes = data_product.call("webhook", adapter.changes_from_webhook, body)
    except (SourceUnavailable, CircuitOpenError) as exc:
        record_observation(data_product.connection, ObservationKind.WEBHOOK, ok=False,
                           detail=str(exc))
        response = _error(503, "SOURCE_UNAVAILABLE",
                          f"Could not read the changed items back from {name!r}: {exc}")
        response["Retry-After"] = "30"
        return response
    except AdapterError as exc:
        return _error(400, "BAD_WEBHOOK", str(exc))
    record_observation(data_product.connection, ObservationKind.WEBHOOK, ok=True)
    with transaction.atomic():
        published = apply_changes(data_product, changes)
        SourceConnection.objects.filter(pk=data_product.connection.pk).update(
            last_webhook_at=timezone.now())
    return JsonResponse({"accepted": published}, status=202)
