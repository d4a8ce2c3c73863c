"""Directus Flow-style webhooks, received by a tiny HTTP server in the test."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.webhook_receiver import WAIT_SECONDS, WebhookReceiver

SECRET = "s3cret"  # noqa: S105 - a test's webhook secret


def wait_for_webhook_stats(directus, key: str, value: int) -> None:
    """The sender counts a delivery after the receiver answers, a moment after it is seen."""
    deadline = time.monotonic() + WAIT_SECONDS
    while directus.control("stats")["webhooks"][key] != value:
        assert time.monotonic() < deadline, directus.control("stats")["webhooks"]
        time.sleep(0.02)


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    hook = WebhookReceiver()
    yield hook
    hook.close()


def test_patch_delivers_a_webhook_with_the_secret(directus, receiver):
    directus.control("webhook", {"url": receiver.url, "secret": SECRET})
    assert directus.patch("/items/customers/4", json={"name": "Changed"}).status_code == 200
    headers, event = receiver.next()
    assert headers["X-Directus-Webhook-Secret"] == SECRET
    # As a Flow's request operation sent them to us from a real Directus 10.13.4:
    assert headers["Content-Type"] == "application/json"
    assert headers["User-Agent"].startswith("axios/")
    # A Flow's {{$trigger}} on update: the event names the collection (api/src/flows.ts),
    # the key comes from the URL as a string (api/src/services/items.ts, updateMany).
    assert event == {"event": "customers.items.update", "payload": {"name": "Changed"},
                     "keys": ["4"], "collection": "customers"}


def test_an_updates_payload_is_the_request_body_as_sent(directus, receiver):
    # Directus' api/src/controllers/items.ts answers PATCH /items/:collection/:pk with
    # `service.updateOne(req.params['pk'], req.body)`; services/items.ts (updateMany) emits
    # `items.update` with that body as `payload` (after filter hooks, none here), not
    # narrowed to the collection's fields, which only the database write is.
    directus.control("webhook", {"url": receiver.url, "secret": SECRET})
    body = {"name": "Changed", "nickname": "not a field of customers"}
    assert directus.patch("/items/customers/4", json=body).status_code == 200
    assert "nickname" not in directus.get("/items/customers/4").json()["data"]
    _, event = receiver.next()
    assert event["payload"] == body


def test_create_and_delete_deliver_in_order_with_a_custom_header(directus, receiver):
    directus.control("webhook", {"url": receiver.url, "secret": SECRET, "header": "X-Hook"})
    created = directus.post("/items/customers",
                            json={"email": "hook@example.com", "name": "Hook"}).json()["data"]
    directus.delete(f"/items/customers/{created['id']}")
    headers, create = receiver.next()
    assert headers["X-Hook"] == SECRET
    # createOne's meta has `key` (the database's number), not `keys`.
    assert create == {"event": "customers.items.create",
                      "payload": {"email": "hook@example.com", "name": "Hook"},
                      "key": created["id"], "collection": "customers"}
    _, delete = receiver.next()
    # deleteMany's meta: {payload: keys, keys, collection}, keys from the URL.
    key = str(created["id"])
    assert delete == {"event": "customers.items.delete", "payload": [key], "keys": [key],
                      "collection": "customers"}
    wait_for_webhook_stats(directus, "delivered", 2)


def test_the_legacy_webhooks_shape_on_request(directus, receiver):
    directus.control("webhook", {"url": receiver.url, "secret": SECRET, "shape": "legacy"})
    directus.patch("/items/customers/4", json={"status": "archived"})
    _, event = receiver.next()
    # api/src/webhooks.ts (10.x): {event, accountability: {user, role}, ...meta}
    assert event["event"] == "items.update"
    assert event["accountability"].keys() == {"user", "role"}
    assert (event["keys"], event["payload"], event["collection"]) == (
        ["4"], {"status": "archived"}, "customers")
    assert directus.post("/__control/webhook", json={"url": receiver.url, "secret": SECRET,
                                                     "shape": "v9"}).status_code == 400


def test_a_slow_or_failing_target_never_blocks_the_api(directus):
    slow = WebhookReceiver(status=500, hold=True)
    try:
        directus.control("webhook", {"url": slow.url, "secret": SECRET})
        # The target holds the delivery until released. An API that waited for its webhook
        # would answer only once the delivery had ended (at the sender's 2 s timeout); this
        # one answers while the delivery is still open, neither delivered nor failed.
        assert directus.patch("/items/customers/4", json={"name": "Quick"}).status_code == 200
        assert slow.arrived.wait(WAIT_SECONDS), "the webhook was never sent"
        open_delivery = directus.control("stats")["webhooks"]
        assert (open_delivery["delivered"], open_delivery["failed"]) == (0, 0)
        slow.release()
        slow.next()
        wait_for_webhook_stats(directus, "failed", 1)
    finally:
        slow.close()


def test_no_webhook_without_a_target_and_reset_clears_it(directus, receiver):
    directus.patch("/items/customers/4", json={"name": "Silent"})
    directus.control("webhook", {"url": receiver.url, "secret": SECRET})
    directus.control("reset", {})
    directus.patch("/items/customers/4", json={"name": "Still silent"})
    # Deliveries keep the order of the changes: had either silent change been sent, it would
    # arrive before this one.
    directus.control("webhook", {"url": receiver.url, "secret": SECRET})
    directus.patch("/items/customers/4", json={"name": "Heard"})
    _, first = receiver.next()
    assert first["payload"] == {"name": "Heard"}
