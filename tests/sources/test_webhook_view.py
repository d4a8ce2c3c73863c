"""The webhook endpoint's every answer: each refusal has its status, code and message, and
publishes nothing; an accepted webhook publishes its changes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client
from django_tenants.utils import schema_context

from apps.adapters.models import SourceConnection
from apps.events.models import OutboxMessage
from dictamesh.resilience.breaker import get_breaker
from tests.conftest import tenant_host
from tests.sources.conftest import WEBHOOK_SECRET, calls, control

UPDATE = {"event": "items.update", "collection": "customers", "keys": ["7"],
          "payload": {"name": "Renamed"}}
GOOD_SECRET = {"X-Directus-Webhook-Secret": WEBHOOK_SECRET}


@pytest.fixture
def post(connected, settings):
    """``post(name, body, host=tenant, **headers)``: a webhook POST to the view."""
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, ".testserver"]

    def send(name: str, body: Any, host: str | None = None,
             headers: dict[str, str] | None = None) -> Any:
        client = Client(HTTP_HOST=host or tenant_host(connected))
        data = body if isinstance(body, (str, bytes)) else json.dumps(body)
        return client.post(f"/webhooks/sources/{name}", data, content_type="application/json",
                           headers=GOOD_SECRET if headers is None else headers)

    return send


def _refused(response: Any, status: int, code: str, *words: str) -> dict[str, Any]:
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert error["code"] == code
    for word in words:
        assert word in error["message"]
    assert not OutboxMessage.objects.exists(), "a refused webhook published something"
    return error


def test_an_accepted_update_publishes_the_changed_customer(post, connected):
    response = post("customers", UPDATE)
    assert response.status_code == 202, response.content
    assert response.json() == {"accepted": 1}
    [row] = OutboxMessage.objects.all()
    assert (row.key, row.topic) == ("7", f"{connected}.customers.directus.entity_changed")


def test_no_tenant_on_the_public_host(post):
    with schema_context("public"):
        response = post("customers", UPDATE, host="testserver")
    _refused(response, 404, "NO_TENANT", "tenant's host name")


def test_an_unknown_source(post):
    _refused(post("nosuch", UPDATE), 404, "UNKNOWN_SOURCE", "'nosuch'")


def test_a_source_that_takes_no_webhooks(post):
    _refused(post("products", UPDATE), 404, "NO_WEBHOOKS", "'products'")


def _set_enabled(name: str, enabled: bool) -> None:
    """As the admin does it: save() (which stamps updated_at)."""
    connection = SourceConnection.objects.get(name=name)
    connection.enabled = enabled
    connection.save()


def test_a_disabled_connection_takes_no_webhooks(post):
    _set_enabled("customers", False)
    _refused(post("customers", UPDATE), 409, "SOURCE_DISABLED", "enable it")
    _set_enabled("customers", True)
    assert post("customers", UPDATE).status_code == 202


def test_a_disabled_connection_still_asks_for_the_secret_first(post):
    _set_enabled("customers", False)
    _refused(post("customers", UPDATE, headers={}), 401, "BAD_SECRET")


@pytest.mark.parametrize(("body", "code", "words"), [
    ("{not json", "BAD_JSON", ("not JSON",)),
    (b"\xff\xfe", "BAD_JSON", ("not JSON",)),
    ("[1, 2]", "BAD_BODY", ("JSON object",)),
    ('"items.update"', "BAD_BODY", ("JSON object",)),
    ({"event": "server.start"}, "BAD_WEBHOOK", ("Not a Directus items webhook",)),
    ({"event": "items.update", "collection": "customers", "keys": "7"}, "BAD_WEBHOOK",
     ("`keys`",)),
])
def test_bad_bodies_are_400_with_what_to_fix(post, body, code, words):
    _refused(post("customers", body), 400, code, *words)


def test_a_source_that_cannot_be_read_back_is_503_with_retry_after(post, sources):
    control(sources.directus_url, "faults", {"down": True})
    response = post("customers", UPDATE)
    _refused(response, 503, "SOURCE_UNAVAILABLE", "'customers'")
    assert int(response["Retry-After"]) > 0


def test_an_open_circuit_is_503_with_retry_after_and_no_call(post, sources, connected,
                                                            settings):
    # Open for ten minutes: with the fixture's one-second cool-down a slow machine could
    # let the webhook's read through as the half-open probe.
    settings.BREAKER_RESET_TIMEOUT_SECONDS = 600
    get_breaker(connected, "customers", fail_max=1).open()
    control(sources.directus_url, "reset")
    response = post("customers", UPDATE)
    _refused(response, 503, "SOURCE_UNAVAILABLE", "'customers'")
    assert int(response["Retry-After"]) > 0
    assert calls(sources.directus_url) == 0  # the open circuit spared the source the call


def test_only_post_is_allowed(connected, settings):
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, ".testserver"]
    response = Client(HTTP_HOST=tenant_host(connected)).get("/webhooks/sources/customers")
    assert response.status_code == 405
    assert not OutboxMessage.objects.exists()
