"""Id listings for the deletion sweep: every id, cheaply, or an honest "incomplete"."""

from __future__ import annotations

from apps.adapters.directus import adapter as directus_module
from tests.adapters.conftest import SIZES
from tests.adapters.test_drift import EVERY_ID
from tests.adapters.test_failures import each_source


@each_source
def test_every_source_lists_every_id(make_adapter, name, entity_type, entity_id, credential):
    listing = make_adapter(name).list_ids(entity_type)
    assert listing.complete
    assert listing.ids == frozenset(EVERY_ID[name])


def test_directus_lists_keys_alone_in_keyset_pages(directus, controls, monkeypatch):
    monkeypatch.setattr(directus_module, "MAX_PAGE_SIZE", 50)
    listing = directus.list_ids("customer")
    assert (listing.complete, len(listing.ids)) == (True, SIZES.customers)
    assert controls["directus"].calls("GET /items/customers") == 3  # 50 + 50 + 20


def test_a_listing_cut_short_is_incomplete(directus, monkeypatch):
    monkeypatch.setattr(directus_module, "MAX_PAGE_SIZE", 50)
    directus.max_id_listing_pages = 2
    assert not directus.list_ids("customer").complete


def test_a_product_that_does_not_map_still_exists(products, controls):
    # The products source keeps a malformed product's SKU: it counts as present.
    controls["products"].faults(malformed=["SKU-00003"])
    listing = products.list_ids("product")
    assert listing.complete
    assert "SKU-00003" in listing.ids


def test_a_directus_item_without_its_key_makes_the_listing_incomplete(directus, controls):
    # It might be any cached customer: no absence may be read as a deletion.
    controls["directus"].faults(malformed=["3"])
    assert not directus.list_ids("customer").complete
