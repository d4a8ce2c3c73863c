"""The data set: deterministic for a seed, and the same across the three servers."""

from __future__ import annotations

import pytest

from devtools.reference import Sizes, dataset


def test_the_same_seed_gives_the_same_data_and_another_seed_other_data():
    sizes = Sizes(customers=50, products=20, invoices=40)
    first = (dataset.customers(1, 50), dataset.products(1, 20), dataset.invoices(1, sizes))
    assert first == (dataset.customers(1, 50), dataset.products(1, 20),
                     dataset.invoices(1, sizes))
    assert dataset.customers(2, 50) != first[0]


def test_growing_one_size_keeps_the_other_types():
    assert dataset.customers(1, 10) == dataset.customers(1, 20)[:10]
    small = dataset.invoices(1, Sizes(customers=10, products=20, invoices=5))
    assert small == dataset.invoices(1, Sizes(customers=10, products=20, invoices=9))[:5]


def test_invoices_add_up_and_use_one_currency():
    catalog = {p["sku"]: p for p in dataset.products(3, 30)}
    for invoice in dataset.invoices(3, Sizes(customers=10, products=30, invoices=200)):
        assert invoice["total"] == dataset.invoice_total(invoice["items"])
        for item in invoice["items"]:
            assert catalog[item["sku"]]["price"] == {"amount": item["unit_price"],
                                                     "currency": invoice["currency"]}
        assert invoice["updated_at"] >= invoice["created_at"]


@pytest.mark.parametrize("sizes", [{"customers": -1}, {"products": 1.5},
                                   {"customers": 0, "invoices": 3}])
def test_bad_sizes_are_refused(sizes):
    with pytest.raises(ValueError, match="must be|need"):
        Sizes(**sizes)


def test_the_servers_agree_with_each_other(directus, products, ecommerce):
    customers = {c["id"] for c in directus.get("/items/customers",
                                               params={"limit": -1}).json()["data"]}
    prices = {p["sku"]: p["price"] for p in products.get(
        "/v1/products", params={"per_page": 250}).json()["items"]}
    invoices = ecommerce.get("/api/v1/invoices", params={"limit": 250}).json()["data"]
    assert invoices
    for invoice in invoices:
        assert invoice["customer_id"] in customers
        for item in invoice["items"]:
            assert prices[item["sku"]] == {"amount": item["unit_price"],
                                           "currency": invoice["currency"]}
