"""The Directus adapter reads every webhook body a real Directus sends.

The bodies below are Directus' own action events, `{event, ...meta}` (api/src/emitter.ts),
as the `{{$trigger}}` body of a Flow's "Webhook / Request URL" operation sends them:

- Flows (10.x and 11.x: the trigger code is the same in both) listen on
  `<collection>.items.<action>` (api/src/flows.ts, FlowManager.load);
- the legacy Webhooks module (10.x and earlier) on `items.<action>`, with `accountability`
  (api/src/webhooks.ts, createHandler);
- meta per action from api/src/services/items.ts: createOne `{payload, key, collection}`,
  updateMany `{payload, keys, collection}`, deleteMany `{payload: keys, keys, collection}`.
  Keys from a URL (the Data Studio's `PATCH /items/customers/7`) are strings; keys from a
  batch body (`PATCH /items/customers {"keys": [7, 8], ...}`) and a created item's key
  (what the database returned) are numbers.
"""

from __future__ import annotations

from typing import Any

import pytest

from apps.adapters.base import ChangeType, MalformedRecord

ACCOUNTABILITY = {"user": "6d2a3f4e-0c51-4b8e-9a47-3f1c2b5d7e90",
                  "role": "0f6e1c2d-8b3a-4f57-a2c9-5e4d3b2a1c08"}

REAL_BODIES: dict[str, tuple[dict[str, Any], ChangeType, list[str]]] = {
    "flow create": (
        {"event": "customers.items.create",
         "payload": {"email": "ada@example.com", "name": "Ada"}, "key": 7,
         "collection": "customers"},
        ChangeType.CREATED, ["7"]),
    "flow update from the Data Studio": (
        {"event": "customers.items.update", "payload": {"name": "Ada L."}, "keys": ["7"],
         "collection": "customers"},
        ChangeType.UPDATED, ["7"]),
    "flow batch update": (
        {"event": "customers.items.update", "payload": {"status": "archived"},
         "keys": [7, 8], "collection": "customers"},
        ChangeType.UPDATED, ["7", "8"]),
    "flow delete": (
        {"event": "customers.items.delete", "payload": ["7", "8"], "keys": ["7", "8"],
         "collection": "customers"},
        ChangeType.DELETED, ["7", "8"]),
    "legacy create": (
        {"event": "items.create", "accountability": ACCOUNTABILITY,
         "payload": {"email": "ada@example.com", "name": "Ada"}, "key": 7,
         "collection": "customers"},
        ChangeType.CREATED, ["7"]),
    "legacy update": (
        {"event": "items.update", "accountability": ACCOUNTABILITY,
         "payload": {"name": "Ada L."}, "keys": ["7"], "collection": "customers"},
        ChangeType.UPDATED, ["7"]),
    "legacy delete": (
        {"event": "items.delete", "accountability": None, "payload": [7], "keys": [7],
         "collection": "customers"},
        ChangeType.DELETED, ["7"]),
}


@pytest.mark.parametrize("name", REAL_BODIES)
def test_every_shape_a_real_directus_sends_is_read(directus, name):
    body, change_type, ids = REAL_BODIES[name]
    changes = directus.changes_from_webhook(body)
    assert [(c.change_type, c.entity_id) for c in changes] == [(change_type, i) for i in ids]
    if change_type is not ChangeType.DELETED:
        # Created and updated items are read back: the change carries the whole customer.
        assert all(c.entity is not None and c.entity.id == c.entity_id for c in changes)


def test_an_update_names_the_fields_its_payload_holds(directus):
    body, _, _ = REAL_BODIES["flow update from the Data Studio"]
    [change] = directus.changes_from_webhook(body)
    assert change.changed_fields == ("name", "updated_at")


def test_events_of_another_collection_are_not_ours(directus):
    for event in ("orders.items.update", "items.update"):
        body: dict[str, Any] = {"event": event, "payload": {}, "keys": ["1"],
                                "collection": "orders"}
        assert directus.changes_from_webhook(body) == []


@pytest.mark.parametrize(("body", "says"), [
    ({"event": "server.start"}, "not an items create, update or delete"),
    ({"event": "customers.items.sort", "keys": ["1"]}, "not an items create"),
    ({"event": "customers.items.update", "payload": {}, "collection": "customers"},
     "no `key` or `keys`"),
    ({"event": "items.update", "keys": ["1"]}, "names no collection"),
    ({"event": "orders.items.update", "keys": ["1"], "collection": "customers"},
     "about 'orders' but its collection is 'customers'"),
])
def test_other_bodies_are_refused_saying_what_the_flow_must_send(directus, body, says):
    with pytest.raises(MalformedRecord, match="Not a Directus items webhook") as refused:
        directus.changes_from_webhook(body)
    assert says in str(refused.value)
    assert "{{$trigger}}" in str(refused.value)


def test_a_flow_body_without_its_collection_field_still_names_it_in_the_event(directus):
    [change] = directus.changes_from_webhook(
        {"event": "customers.items.update", "payload": {"name": "X"}, "keys": ["7"]})
    assert (change.change_type, change.entity_id) == (ChangeType.UPDATED, "7")
