"""`_meta` over HTTP: each entity says where it was read from and how fresh it is."""

from __future__ import annotations

from datetime import datetime

from apps.adapters import services
from tests.federation.conftest import Api
from tests.federation.expected import INVOICES
from tests.sources.conftest import calls, control

META = "_meta { source fetchedAt ageSeconds stale servedFrom }"


def test_a_fresh_read_then_a_cached_one(api: Api):
    services.data_product_for("customer").invalidate("customer", ["8"])
    control(api.sources.directus_url, "reset")

    first = api.query(f'{{ customer(id: "8") {{ id {META} }} }}')
    assert "errors" not in first, first
    meta = first["data"]["customer"]["_meta"]
    assert meta["source"] == "customers"  # the connection's name
    assert meta["servedFrom"] == "source"
    assert meta["stale"] is False
    assert 0 <= meta["ageSeconds"] < 60
    assert calls(api.sources.directus_url) == 1

    again = api.query(f'{{ customer(id: "8") {{ {META} }} }}')["data"]["customer"]["_meta"]
    assert calls(api.sources.directus_url) == 1, "served from a cache level"
    assert again["servedFrom"] in ("l1", "l2", "l3")
    assert again["fetchedAt"] == meta["fetchedAt"]
    assert again["ageSeconds"] >= meta["ageSeconds"]
    assert datetime.fromisoformat(again["fetchedAt"]).tzinfo is not None


def test_a_stale_copy_says_so(api: Api):
    api.query('{ customer(id: "9") { id } }')
    services.data_product_for("customer").invalidate("customer", ["9"])
    control(api.sources.directus_url, "faults", {"down": True})

    body = api.query(f'{{ customer(id: "9") {{ {META} }} }}')

    meta = body["data"]["customer"]["_meta"]
    assert meta["stale"] is True
    assert meta["servedFrom"] in ("l1", "l2", "l3")
    assert meta["source"] == "customers"
    control(api.sources.directus_url, "reset")


def test_every_entity_type_and_nested_entities_have_it(api: Api):
    invoice = INVOICES[0]
    body = api.query(f'query($i: ID!) {{ invoice(id: $i) {{ {META} customer {{ {META} }} '
                     f'items {{ product {{ {META} }} }} }} '
                     f'productList(first: 2) {{ nodes {{ {META} }} }} }}',
                     {"i": invoice["id"]})
    assert "errors" not in body, body
    answer = body["data"]["invoice"]
    assert answer["_meta"]["source"] == "invoices"
    assert answer["customer"]["_meta"]["source"] == "customers"
    assert {item["product"]["_meta"]["source"] for item in answer["items"]} == {"products"}
    listed = body["data"]["productList"]["nodes"]
    assert [node["_meta"]["servedFrom"] for node in listed] == ["source", "source"]


def test_answers_with_meta_are_not_served_from_the_response_cache(api: Api, settings):
    settings.GRAPHQL_RESPONSE_CACHE_SECONDS = 300
    services.data_product_for("product").invalidate("product", ["SKU-00002"])
    query = f'{{ product(id: "SKU-00002") {{ name {META} }} }}'
    first = api.query(query)["data"]["product"]["_meta"]
    later = api.query(query)["data"]["product"]["_meta"]
    assert first["servedFrom"] == "source"
    assert later["servedFrom"] in ("l1", "l2"), "executed again, not a cached response"
