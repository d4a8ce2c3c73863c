"""The Directus server against Directus' documented REST shapes.

Where each behaviour comes from (the product's Directus adapter relies on all of them):
- items, create, update, delete: https://docs.directus.io/reference/items.html (answers
  under `data`; POST takes one item or an array; DELETE answers 204);
- `fields`, `filter` (JSON or bracket form), `search`, `sort`, `limit` (default 100, -1 for
  all), `offset`, `page`, `meta`: https://docs.directus.io/reference/query.html, the
  operators: https://docs.directus.io/reference/filter-rules.html;
- error codes (FORBIDDEN, INVALID_CREDENTIALS, TOKEN_EXPIRED, INVALID_QUERY, INVALID_PAYLOAD,
  FAILED_VALIDATION, RECORD_NOT_UNIQUE, ROUTE_NOT_FOUND):
  https://docs.directus.io/reference/introduction.html#error-codes;
- a static token as `Authorization: Bearer` or `access_token`:
  https://docs.directus.io/reference/authentication.html; `/server/ping` and
  `/server/health`: https://docs.directus.io/reference/system/server.html;
- a key that matches no item is FORBIDDEN, never 404, so that a caller cannot tell a
  missing item from one it may not see: api/src/services/items.ts (readOne throws
  ForbiddenError when the read finds nothing).
What the documentation leaves open was observed against Directus 10.13.4 and 11.3.5 and
is said where it is tested.
"""

from __future__ import annotations

import json

import pytest
import requests

from tests.reference_sources.conftest import SIZES

FORBIDDEN = {"errors": [{"message": "You don't have permission to access this.",
                         "extensions": {"code": "FORBIDDEN"}}]}


@pytest.fixture
def everyone(directus):
    """Every customer, in primary-key order."""
    response = directus.get("/items/customers", params={"limit": -1})
    assert response.status_code == 200
    return response.json()["data"]


def ids(response):
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["data"]]


def test_items_come_as_data_with_the_collection_fields(directus):
    response = directus.get("/items/customers/1")
    assert response.status_code == 200
    item = response.json()["data"]
    assert set(item) == {"id", "email", "name", "status", "date_created", "date_updated"}
    assert item["id"] == 1
    assert item["status"] in ("active", "archived")
    assert item["date_created"].endswith("Z")


def test_default_limit_is_100_and_minus_one_means_all(directus, everyone):
    assert len(ids(directus.get("/items/customers"))) == 100
    assert len(everyone) == SIZES.customers
    assert [item["id"] for item in everyone] == list(range(1, SIZES.customers + 1))


@pytest.mark.parametrize(("rule", "expected"), [
    ({"status": {"_eq": "archived"}}, lambda c: c["status"] == "archived"),
    ({"status": {"_neq": "archived"}}, lambda c: c["status"] != "archived"),
    ({"id": {"_in": [3, 5, 8]}}, lambda c: c["id"] in (3, 5, 8)),
    ({"id": {"_in": "3,5,8"}}, lambda c: c["id"] in (3, 5, 8)),
    ({"id": {"_nin": [1, 2]}}, lambda c: c["id"] not in (1, 2)),
    ({"id": {"_gt": 110}}, lambda c: c["id"] > 110),
    ({"id": {"_gte": 110}}, lambda c: c["id"] >= 110),
    ({"id": {"_lt": "4"}}, lambda c: c["id"] < 4),
    ({"id": {"_lte": 4}}, lambda c: c["id"] <= 4),
    ({"id": {"_gt": 10, "_lt": 15}}, lambda c: 10 < c["id"] < 15),
    ({"name": {"_contains": "Ada"}}, lambda c: "Ada" in c["name"]),
    ({"name": {"_contains": "an"}}, lambda c: "an" in c["name"]),
    ({"name": {"_icontains": "AN"}}, lambda c: "an" in c["name"].lower()),
    ({"date_updated": {"_null": True}}, lambda c: c["date_updated"] is None),
    ({"date_updated": {"_nnull": True}}, lambda c: c["date_updated"] is not None),
    ({"date_updated": {"_gte": "2024-07-01"}},
     lambda c: (c["date_updated"] or "") >= "2024-07-01T00:00:00.000Z"),
    ({"date_created": {"_lt": "2024-03-01T00:00:00+00:00"}},
     lambda c: c["date_created"] < "2024-03-01T00:00:00.000Z"),
    ({"_or": [{"id": {"_eq": 1}}, {"status": {"_eq": "archived"}}]},
     lambda c: c["id"] == 1 or c["status"] == "archived"),
    ({"_and": [{"id": {"_lte": 50}}, {"status": {"_eq": "active"}}]},
     lambda c: c["id"] <= 50 and c["status"] == "active"),
    ({"status": "archived"}, lambda c: c["status"] == "archived"),
])
def test_filter_operators(directus, everyone, rule, expected):
    response = directus.get("/items/customers", params={"filter": json.dumps(rule), "limit": -1})
    wanted = [c["id"] for c in everyone if expected(c)]
    assert wanted, "the rule should select something in the seeded data"
    assert ids(response) == wanted


def test_filter_in_bracket_form(directus, everyone):
    response = directus.get("/items/customers", params={
        "filter[_or][0][id][_eq]": "2", "filter[_or][1][status][_eq]": "archived",
        "limit": "-1"})
    assert ids(response) == [c["id"] for c in everyone
                             if c["id"] == 2 or c["status"] == "archived"]


def test_fields_select_and_star(directus):
    response = directus.get("/items/customers", params={"fields": "id,email", "limit": 2})
    assert [set(item) for item in response.json()["data"]] == [{"id", "email"}] * 2
    response = directus.get("/items/customers", params={"fields[]": ["id", "name"], "limit": 1})
    assert set(response.json()["data"][0]) == {"id", "name"}
    response = directus.get("/items/customers/3", params={"fields": "*"})
    assert len(response.json()["data"]) == 6


def test_sort_ascending_descending_and_nulls(directus, everyone):
    response = directus.get("/items/customers", params={"sort": "-date_created", "limit": -1})
    assert ids(response) == [c["id"] for c in sorted(everyone, key=lambda c: c["date_created"],
                                                      reverse=True)]
    response = directus.get("/items/customers", params={"sort": "status,-id", "limit": -1})
    assert ids(response) == [c["id"] for c in sorted(everyone,
                                                      key=lambda c: (c["status"], -c["id"]))]
    # Directus sorts in the database: on PostgreSQL nulls come last ascending, first
    # descending (PostgreSQL's ORDER BY default).
    ascending = directus.get("/items/customers", params={"sort": "date_updated", "limit": -1})
    assert ascending.json()["data"][-1]["date_updated"] is None
    descending = directus.get("/items/customers", params={"sort": "-date_updated", "limit": -1})
    assert descending.json()["data"][0]["date_updated"] is None


def test_limit_offset_and_page(directus):
    assert ids(directus.get("/items/customers", params={"limit": 5, "offset": 10})) == \
        list(range(11, 16))
    assert ids(directus.get("/items/customers", params={"limit": 5, "page": 3})) == \
        list(range(11, 16))
    assert ids(directus.get("/items/customers", params={"limit": 0})) == []
    assert ids(directus.get("/items/customers", params={"offset": 1000})) == []


def test_meta_counts(directus, everyone):
    archived = sum(c["status"] == "archived" for c in everyone)
    params = {"filter": json.dumps({"status": {"_eq": "archived"}}), "limit": 1}
    assert "meta" not in directus.get("/items/customers", params=params).json()
    body = directus.get("/items/customers", params={**params, "meta": "*"}).json()
    assert body["meta"] == {"total_count": SIZES.customers, "filter_count": archived}
    body = directus.get("/items/customers", params={**params, "meta": "filter_count"}).json()
    assert body["meta"] == {"filter_count": archived}


def test_search_matches_text_and_numbers(directus, everyone):
    name = everyone[6]["name"].split()[1]
    response = directus.get("/items/customers", params={"search": name.upper(), "limit": -1})
    assert ids(response) == [c["id"] for c in everyone
                             if name.lower() in (c["name"] + c["email"]).lower()]
    assert 7 in ids(directus.get("/items/customers", params={"search": "7", "limit": -1}))


@pytest.mark.parametrize("params", [
    {"filter": "{not json"},
    {"filter": json.dumps({"id": {"_like": 3}})},
    {"filter": json.dumps({"_or": {"id": {"_eq": 1}}})},
    {"filter": json.dumps({"id": {"_eq": "three"}})},
    {"limit": "ten"},
    {"limit": "-2"},
    {"offset": "-1"},
    {"page": "0"},
])
def test_invalid_query_is_400_invalid_query(directus, params):
    response = directus.get("/items/customers", params=params)
    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert error["extensions"]["code"] == "INVALID_QUERY"
    assert error["message"].startswith("Invalid query.")


@pytest.mark.parametrize(("path", "params"), [
    ("/items/customers/999999", {}),
    ("/items/customers/not-a-number", {}),
    ("/items/orders", {}),
])
def test_missing_items_and_collections_are_403_forbidden(directus, path, params):
    response = directus.get(path, params=params)
    assert response.status_code == 403
    assert response.json() == FORBIDDEN


def test_a_field_the_collection_lacks_is_answered_as_directus_10_13_does(directus):
    # Seen against a real Directus 10.13.4, with an admin and a read-only token alike.
    response = directus.get("/items/customers", params={"fields": "id,password", "limit": 2})
    assert response.status_code == 200
    assert [set(item) for item in response.json()["data"]] == [{"id"}, {"id"}]
    filtered = directus.get("/items/customers",
                            params={"filter": json.dumps({"password": {"_eq": "x"}})})
    assert filtered.status_code == 400
    assert filtered.json() == {"errors": [{
        "message": 'Invalid query. Invalid filter key "password" on "customers".',
        "extensions": {"code": "INVALID_QUERY",
                       "reason": 'Invalid filter key "password" on "customers"'}}]}
    sorted_by = directus.get("/items/customers", params={"sort": "-password"})
    assert sorted_by.status_code == 500
    assert sorted_by.json()["errors"][0]["extensions"]["code"] == "INTERNAL_SERVER_ERROR"


def test_a_drifted_collection_serves_items_without_its_missing_fields(directus):
    directus.control("faults", {"missing_fields": ["status"]})
    [item] = directus.get("/items/customers", params={"limit": 1}).json()["data"]
    assert "status" not in item
    assert "email" in item
    one = directus.get("/items/customers/1", params={"fields": "id,status"}).json()["data"]
    assert one == {"id": 1}
    assert directus.get("/items/customers", params={"sort": "status"}).status_code == 500
    refused = directus.post("/__control/faults", json={"missing_fields": ["id"]})
    assert refused.status_code == 400


def test_as_directus_11_a_field_the_collection_lacks_is_refused_with_a_403(directus):
    directus.control("faults", {"major_version": 11})
    refused = 'You don\'t have permission to access field "password" in collection ' \
              '"customers" or it does not exist. Queried in root.'
    for params in ({"fields": "id,password"}, {"sort": "-password"},
                   {"filter": json.dumps({"_and": [{"id": {"_gt": 1}},
                                                   {"password": {"_eq": "x"}}]})}):
        response = directus.get("/items/customers", params=params)
        assert response.status_code == 403
        assert response.json() == {"errors": [{"message": refused, "extensions": {
            "code": "FORBIDDEN", "reason": refused}}]}
    assert directus.get("/items/customers/1", params={"fields": "password"}).status_code == 403
    assert directus.get("/items/customers", params={"fields": "id,email"}).status_code == 200


def test_auth_failures_answer_as_directus(sources, directus):
    url = f"{sources.directus_url}/items/customers/1"
    no_token = requests.get(url, timeout=5)
    assert no_token.status_code == 403
    assert no_token.json() == FORBIDDEN
    wrong = requests.get(url, headers={"Authorization": "Bearer nope"}, timeout=5)
    assert wrong.status_code == 401
    assert wrong.json()["errors"][0]["extensions"]["code"] == "INVALID_CREDENTIALS"
    by_query = requests.get(url, params={"access_token": sources.directus_token}, timeout=5)
    assert by_query.status_code == 200

    directus.control("faults", {"token_expired": True})
    expired = directus.get("/items/customers/1")
    assert expired.status_code == 401
    assert expired.json()["errors"][0] == {"message": "Token expired.",
                                           "extensions": {"code": "TOKEN_EXPIRED"}}


def test_server_health_and_ping_need_no_token(sources):
    health = requests.get(f"{sources.directus_url}/server/health", timeout=5)
    assert health.status_code == 200
    assert health.json() == {"status": "ok"}
    ping = requests.get(f"{sources.directus_url}/server/ping", timeout=5)
    assert (ping.status_code, ping.text) == (200, "pong")


def test_unknown_route_is_404_route_not_found(directus):
    response = directus.get("/nothing/here")
    assert response.status_code == 404
    assert response.json()["errors"][0]["extensions"]["code"] == "ROUTE_NOT_FOUND"


def test_create_sets_date_created_and_leaves_date_updated_null(directus):
    response = directus.post("/items/customers", json={"email": "new@example.com",
                                                       "name": "New Person", "ignored": 1})
    assert response.status_code == 200
    created = response.json()["data"]
    assert created["id"] == SIZES.customers + 1
    assert created["status"] == "active"
    assert created["date_created"] > "2025"
    assert created["date_updated"] is None
    assert "ignored" not in created
    assert directus.get(f"/items/customers/{created['id']}").json()["data"] == created


def test_create_many_in_one_call(directus):
    response = directus.post("/items/customers", json=[
        {"email": "a@example.com", "name": "A"}, {"email": "b@example.com", "name": "B"}])
    assert [item["email"] for item in response.json()["data"]] == ["a@example.com",
                                                                    "b@example.com"]


def test_update_changes_fields_and_date_updated(directus):
    before = directus.get("/items/customers/5").json()["data"]
    response = directus.patch("/items/customers/5", json={"name": "Renamed", "id": 99})
    assert response.status_code == 200
    after = response.json()["data"]
    assert after["id"] == 5
    assert after["name"] == "Renamed"
    assert after["date_created"] == before["date_created"]
    assert after["date_updated"] > (before["date_updated"] or "")
    assert directus.get("/items/customers/5").json()["data"] == after


def test_delete_removes_the_item(directus):
    assert directus.delete("/items/customers/7").status_code == 204
    # Gone is FORBIDDEN, as every key without an item is (items.ts, see above).
    assert directus.get("/items/customers/7").status_code == 403
    assert directus.delete("/items/customers/7").status_code == 403
    assert directus.patch("/items/customers/7", json={"name": "x"}).status_code == 403


# What Directus refuses in a collection without validation rules (docs/sources.md's): a
# not-nullable field left out on create or set to null (api/src/permissions/modules/
# process-payload/process-payload.ts: `_submitted` and `_nnull`, FailedValidationError's
# "Value is required." and "Value can't be null." in packages/validation/src/errors/
# failed-validation.ts), a unique value twice, a body that is not an item.
@pytest.mark.parametrize(("method", "path", "body", "code", "message"), [
    ("POST", "/items/customers", {"name": "No Email"}, "FAILED_VALIDATION",
     'Validation failed for field "email". Value is required.'),
    ("POST", "/items/customers", {"email": "x@example.com", "name": None},
     "FAILED_VALIDATION", 'Validation failed for field "name". Value can\'t be null.'),
    ("PATCH", "/items/customers/1", {"status": None}, "FAILED_VALIDATION",
     'Validation failed for field "status". Value can\'t be null.'),
    ("POST", "/items/customers", "not an object", "INVALID_PAYLOAD",
     "Invalid payload. An item must be a JSON object."),
    ("POST", "/items/customers", [{"email": "same@example.com", "name": "A"},
                                  {"email": "same@example.com", "name": "B"}],
     "RECORD_NOT_UNIQUE", 'Value for field "email" in collection "customers" has to be unique.'),
])
def test_bad_payloads_are_400_and_change_nothing(directus, method, path, body, code, message):
    before = directus.get("/items/customers", params={"limit": -1}).json()["data"]
    response = directus.request(method, path, json=body)
    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert (error["extensions"]["code"], error["message"]) == (code, message)
    assert directus.get("/items/customers", params={"limit": -1}).json()["data"] == before


def test_without_validation_rules_an_item_is_stored_as_sent(directus):
    """Directus validates only the rules a collection has (process-payload.ts, above); the
    dropdown's choices of `status` are the Data Studio's, and a text field takes an empty
    string. So a source may hold items the platform must read as malformed."""
    created = directus.post("/items/customers",
                            json={"email": "odd@example.com", "name": "", "status": "gone"})
    assert created.status_code == 200, created.text
    item = created.json()["data"]
    assert (item["email"], item["name"], item["status"]) == ("odd@example.com", "", "gone")
    changed = directus.patch(f"/items/customers/{item['id']}", json={"name": "  "})
    assert changed.status_code == 200, changed.text
    assert directus.get(f"/items/customers/{item['id']}").json()["data"]["name"] == "  "


def test_duplicate_email_is_record_not_unique(directus):
    taken = directus.get("/items/customers/1").json()["data"]["email"]
    response = directus.patch("/items/customers/2", json={"email": taken})
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"] == {
        "code": "RECORD_NOT_UNIQUE", "collection": "customers", "field": "email"}


def test_invalid_json_body_is_invalid_payload(directus):
    response = directus.post("/items/customers", data=b"{oops",
                             headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "INVALID_PAYLOAD"
