"""The Directus adapter: customers by id and filter, change detection, Flow webhooks."""

from __future__ import annotations

import pytest

from apps.adapters.base import ChangeType, EntityQuery, InvalidQuery, MalformedRecord
from tests.adapters.conftest import SIZES, all_changes, api, changes_resuming

ITEMS = "GET /items/customers"
SECRET = "hook-secret"  # noqa: S105 - a test's webhook secret
LATER = "2025-06-01T00:00:00.000Z"  # after every seeded timestamp, before any live one


def auth(sources):
    return {"Authorization": f"Bearer {sources.directus_token}"}


def test_get_entity_maps_the_item(directus, sources):
    item = sources.directus.items[5]
    customer = directus.get_entity("customer", "5")
    assert customer is not None
    assert (customer.type, customer.id, customer.source) == ("customer", "5", "test-directus")
    assert customer.attributes["email"] == item["email"]
    assert customer.attributes["name"] == item["name"]
    assert customer.attributes["status"] == item["status"]
    assert customer.attributes["created_at"] == item["date_created"]
    assert customer.attributes["updated_at"] == (item["date_updated"] or item["date_created"])


def test_a_never_updated_customer_has_its_creation_as_update_time(directus, sources):
    key = next(k for k, item in sources.directus.items.items() if item["date_updated"] is None)
    customer = directus.get_entity("customer", str(key))
    assert customer is not None
    assert customer.attributes["updated_at"] == customer.attributes["created_at"]


def test_missing_and_impossible_ids_are_none(directus, controls):
    assert directus.get_entity("customer", "99999") is None
    assert directus.get_entity("customer", "not-a-number") is None
    assert controls["directus"].calls(ITEMS) == 1  # the impossible id needs no call


def test_by_ids_is_one_call_in_the_order_asked(directus, controls):
    page = directus.query_entities("customer", EntityQuery(ids=["7", "3", "99999", "3", "x"]))
    assert [entity.id for entity in page.entities] == ["7", "3"]
    assert page.next_cursor is None
    assert controls["directus"].calls(ITEMS) == 1


def test_more_than_a_hundred_ids_take_one_call_per_hundred(directus, controls):
    ids = [str(n) for n in range(1, SIZES.customers + 1)]
    page = directus.query_entities("customer", EntityQuery(ids=ids))
    assert [entity.id for entity in page.entities] == ids
    assert controls["directus"].calls(ITEMS) == 2


def test_filter_pages_cover_every_match_once(directus, sources):
    archived = {str(k) for k, item in sources.directus.items.items()
                if item["status"] == "archived"}
    seen, cursor, first = [], None, None
    while True:
        page = directus.query_entities("customer", EntityQuery(
            filters={"status": "archived"}, page_size=4, cursor=cursor))
        first = first or page
        seen += [entity.id for entity in page.entities]
        if not (cursor := page.next_cursor):
            break
    assert first.total == len(archived)
    assert sorted(seen) == sorted(archived)
    assert len(seen) == len(set(seen))


def test_unknown_filters_and_foreign_cursors_are_refused(directus):
    with pytest.raises(InvalidQuery, match="filter by id, email, name, status"):
        directus.query_entities("customer", EntityQuery(filters={"shoe_size": 42}))
    with pytest.raises(InvalidQuery, match="cursor"):
        directus.query_entities("customer", EntityQuery(cursor="bm90LWEtY3Vyc29y"))


# -- change detection --------------------------------------------------------------------------

def test_changes_from_the_beginning_in_effective_time_order(directus, sources):
    changes, _ = all_changes(directus)
    items = sources.directus.items
    assert sorted(int(c.entity_id) for c in changes) == sorted(items)
    times = [(c.occurred_at, int(c.entity_id)) for c in changes]
    assert times == sorted(times)
    for change in changes:
        never_updated = items[int(change.entity_id)]["date_updated"] is None
        assert change.change_type == (ChangeType.CREATED if never_updated else ChangeType.UPDATED)


def test_resuming_batch_by_batch_neither_repeats_nor_skips(make_adapter, controls):
    changes, _ = changes_resuming(make_adapter("directus", change_batch_size=7))
    batches = -(-SIZES.customers // 7)
    assert controls["directus"].calls(ITEMS) == 2 * batches  # updated + never updated
    assert [int(c.entity_id) for c in changes] == [
        int(c.entity_id) for c in all_changes(make_adapter("directus"))[0]]
    assert len(changes) == SIZES.customers


def test_a_patch_and_a_create_come_after_the_stored_cursor(directus, sources):
    _, cursor = all_changes(directus)
    api(sources.directus_url, "PATCH", "/items/customers/9", auth(sources), {"name": "Patched"})
    created = api(sources.directus_url, "POST", "/items/customers", auth(sources),
                  {"email": "new@example.com", "name": "New"})["data"]
    changes, cursor = all_changes(directus, cursor)
    assert [(c.entity_id, c.change_type) for c in changes] == [
        ("9", ChangeType.UPDATED), (str(created["id"]), ChangeType.CREATED)]
    assert changes[0].entity is not None
    assert changes[0].entity.attributes["name"] == "Patched"
    assert all_changes(directus, cursor)[0] == []


def test_equal_timestamps_across_batch_boundaries(make_adapter, sources):
    server = sources.directus
    with server.lock:  # the API cannot set timestamps: tie five customers in-process
        for key in (10, 11, 12):
            server.items[key] = {**server.items[key], "date_updated": LATER}
        for key in (13, 14):
            server.items[key] = {**server.items[key], "date_created": LATER,
                                 "date_updated": None}
    changes, _ = changes_resuming(make_adapter("directus", change_batch_size=2))
    assert [int(c.entity_id) for c in changes[-5:]] == [10, 11, 12, 13, 14]
    assert len({c.entity_id for c in changes}) == len(changes) == SIZES.customers


# -- webhooks ----------------------------------------------------------------------------------

def test_webhook_secret_is_verified(directus):
    assert directus.verify_webhook({"x-directus-webhook-secret": SECRET}, SECRET)
    assert not directus.verify_webhook({"X-Directus-Webhook-Secret": "wrong"}, SECRET)
    assert not directus.verify_webhook({}, SECRET)
    assert not directus.verify_webhook({"X-Directus-Webhook-Secret": ""}, "")


def test_webhooks_for_create_update_and_delete(directus, sources, controls, receiver):
    controls["directus"].post("webhook", {"url": receiver.url, "secret": SECRET})
    created = api(sources.directus_url, "POST", "/items/customers", auth(sources),
                  {"email": "hook@example.com", "name": "Hook"})["data"]
    api(sources.directus_url, "PATCH", f"/items/customers/{created['id']}", auth(sources),
        {"status": "archived"})
    api(sources.directus_url, "DELETE", f"/items/customers/{created['id']}", auth(sources))
    events = [receiver.next() for _ in range(3)]
    assert all(directus.verify_webhook(headers, SECRET) for headers, _ in events)
    key = created["id"]
    # A Flow's event hook names the event after the collection (see docs/sources.md).
    assert [(body["event"], body["collection"]) for _, body in events] == [
        ("customers.items.create", "customers"), ("customers.items.update", "customers"),
        ("customers.items.delete", "customers")]
    assert events[0][1]["key"] == key
    # An update names the item by the key in the URL and carries the request body it sent.
    assert events[1][1]["keys"] == [str(key)]  # as Directus: the URL's key, a string
    assert events[1][1]["payload"] == {"status": "archived"}
    calls_before = controls["directus"].calls(ITEMS)

    # The item is gone by now, as happens when a webhook is handled late: the create and the
    # update each cost one lookup and report nothing (the delete reports the removal).
    assert directus.changes_from_webhook(events[0][1]) == []
    assert directus.changes_from_webhook(events[1][1]) == []
    assert controls["directus"].calls(ITEMS) == calls_before + 2

    deleted = directus.changes_from_webhook(events[2][1])
    assert [(c.change_type, c.entity_id, c.entity) for c in deleted] == [
        (ChangeType.DELETED, str(created["id"]), None)]


def test_update_webhook_fetches_the_items_in_one_call(directus, sources, controls, receiver):
    controls["directus"].post("webhook", {"url": receiver.url, "secret": SECRET})
    # Directus' update payload is the body as sent: a name the collection lacks is in it too,
    # and must not be reported as a changed attribute.
    api(sources.directus_url, "PATCH", "/items/customers/4", auth(sources),
        {"name": "Renamed", "nickname": "ignored"})
    _, event = receiver.next()
    assert event["payload"] == {"name": "Renamed", "nickname": "ignored"}
    body = {**event, "keys": ["4", 5, "6"]}  # a Flow on a batch update names every key
    calls_before = controls["directus"].calls(ITEMS)
    changes = directus.changes_from_webhook(body)
    assert controls["directus"].calls(ITEMS) == calls_before + 1
    assert [(c.change_type, c.entity_id) for c in changes] == [
        (ChangeType.UPDATED, "4"), (ChangeType.UPDATED, "5"), (ChangeType.UPDATED, "6")]
    assert changes[0].changed_fields == ("name", "updated_at")
    assert changes[0].entity is not None
    assert changes[0].entity.attributes["name"] == "Renamed"


def test_create_webhook_reports_the_created_item(directus, sources, controls, receiver):
    controls["directus"].post("webhook", {"url": receiver.url, "secret": SECRET})
    created = api(sources.directus_url, "POST", "/items/customers", auth(sources),
                  {"email": "made@example.com", "name": "Made"})["data"]
    _, event = receiver.next()
    [change] = directus.changes_from_webhook(event)
    assert (change.change_type, change.entity_id) == (ChangeType.CREATED, str(created["id"]))
    assert change.entity is not None
    assert change.entity.attributes["email"] == "made@example.com"


def test_webhooks_of_other_collections_and_garbage(directus):
    other = {"event": "items.update", "collection": "orders", "keys": [1], "payload": {}}
    assert directus.changes_from_webhook(other) == []
    with pytest.raises(MalformedRecord, match="Not a Directus items webhook"):
        directus.changes_from_webhook({"event": "server.start"})


# -- malformed items ---------------------------------------------------------------------------

def test_an_item_directus_accepted_with_a_blank_name_is_malformed(directus, sources):
    # Directus stores a blank text without validation rules (tests/reference_sources/
    # test_directus.py cites its source): the source does not guarantee our contract.
    api(sources.directus_url, "PATCH", "/items/customers/5", auth(sources), {"name": " "})
    with pytest.raises(MalformedRecord, match=r"customer 5 .*name must be non-empty text"):
        directus.get_entity("customer", "5")
    page = directus.query_entities("customer", EntityQuery(ids=["4", "5", "6"]))
    assert [entity.id for entity in page.entities] == ["4", "6"]


def test_malformed_item_raises_for_its_lookup_and_is_skipped_in_lists(directus, controls):
    controls["directus"].faults(malformed=["5"])
    with pytest.raises(MalformedRecord, match=r"customer 5 .*id must be an integer") as error:
        directus.get_entity("customer", "5")
    assert error.value.record_id == "5"

    page = directus.query_entities("customer", EntityQuery(ids=["4", "5", "6"]))
    assert [entity.id for entity in page.entities] == ["4", "6"]
    changes, _ = all_changes(directus)
    assert len(changes) == SIZES.customers - 1
    metrics = directus.get_metrics()
    assert metrics["malformed_records"] == 2
    assert "id must be an integer" in metrics["recent_malformed"][0]
