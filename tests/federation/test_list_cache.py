"""A customer's invoices are a cached list, like an entity: repeated reads skip the source,
a change event ends the lists it can alter, and a source outage serves the last list with
its age instead of null.

Expectations come from the reference data set (tests/federation/expected.py) and from what
the tests write to the reference e-commerce server, never from the API under test.
"""

from __future__ import annotations

import time

import requests

from apps.federation.invalidation import invalidate
from devtools.reference import ecommerce
from dictamesh.events.topics import provision_tenant_topics
from tests.consumers import catalog_consumer
from tests.federation.conftest import CUSTOMERS, Api, publish_source_changes
from tests.federation.expected import invoices_of
from tests.sources.conftest import calls, control

INVOICES = 'query($c: ID!) { customer(id: $c) { id invoices { id status } } }'


def _billed(count: int = 1, status: str = "") -> list[str]:
    """Customers with at least one seeded invoice (of ``status``, if given)."""
    billed = [str(c) for c in range(1, CUSTOMERS + 1)
              if any(not status or i["status"] == status for i in invoices_of(str(c)))]
    return billed[:count]


def _listed(api: Api, customer: str) -> list[str] | None:
    invoices = api.query(INVOICES, {"c": customer})["data"]["customer"]["invoices"]
    return None if invoices is None else [invoice["id"] for invoice in invoices]


def _errors_at(body: dict) -> dict[tuple, dict]:
    return {tuple(error["path"]): error for error in body.get("errors", [])}


def test_a_listed_customer_is_read_once_from_the_source(api: Api, settings):
    settings.GRAPHQL_RESPONSE_CACHE_SECONDS = 0  # only the list cache may spare the call
    customer = _billed()[0]
    expected = [invoice["id"] for invoice in invoices_of(customer)]

    assert _listed(api, customer) == expected
    control(api.sources.ecommerce_url, "reset")
    assert _listed(api, customer) == expected
    assert calls(api.sources.ecommerce_url) == 0


def test_an_outage_serves_the_cached_list_flagged_stale_with_its_age(api: Api, settings):
    settings.GRAPHQL_RESPONSE_CACHE_SECONDS = 0
    customer = _billed(2)[1]
    expected = [invoice["id"] for invoice in invoices_of(customer)]
    assert _listed(api, customer) == expected
    # An event said an invoice of the list changed: the next read asks the source...
    invalidate({"invoice": {expected[0]: {"customer_id": int(customer)}}})
    control(api.sources.ecommerce_url, "faults", {"down": True})

    body = api.query(INVOICES, {"c": customer})

    # ... which is down: the last list is served, flagged, with its age.
    assert [invoice["id"] for invoice in body["data"]["customer"]["invoices"]] == expected
    error = _errors_at(body)[("customer", "invoices")]
    assert error["extensions"]["code"] == "SOURCE_UNAVAILABLE"
    assert error["extensions"]["stale"] is True
    assert 0 <= error["extensions"]["ageSeconds"] < 600
    assert len(body["errors"]) == 1


def test_an_outage_with_no_cached_list_is_null_with_source_unavailable(api: Api, settings):
    settings.GRAPHQL_RESPONSE_CACHE_SECONDS = 0
    control(api.sources.ecommerce_url, "faults", {"down": True})

    body = api.query(INVOICES, {"c": "8"})

    assert body["data"]["customer"] == {"id": "8", "invoices": None}
    error = _errors_at(body)[("customer", "invoices")]
    assert error["extensions"]["code"] == "SOURCE_UNAVAILABLE"
    assert "stale" not in error["extensions"]


def test_a_moved_invoice_leaves_one_list_and_joins_the_other_once_its_event_is_consumed(
        api_committed: Api, kafka_bootstrap, settings):
    settings.GRAPHQL_RESPONSE_CACHE_SECONDS = 0  # only the event can end the cached lists
    api = api_committed
    provision_tenant_topics(api.tenant)
    source = _billed(status="open")[0]
    target = next(customer for customer in _billed(3) if customer != source)
    moved = next(i["id"] for i in invoices_of(source) if i["status"] == "open")
    before_source, before_target = _listed(api, source) or [], _listed(api, target) or []
    assert moved in before_source
    assert moved not in before_target
    requests.patch(f"{api.sources.ecommerce_url}/api/v1/invoices/{moved}",
                   json={"customer_id": int(target)},
                   headers={"Authorization": f"Bearer {ecommerce.DEFAULT_TOKEN}"},
                   timeout=10).raise_for_status()

    publish_source_changes(api.tenant, "invoice")
    # Not consumed yet: both cached lists still stand.
    assert (_listed(api, source), _listed(api, target)) == (before_source, before_target)

    def moved_in_both() -> bool:
        return moved in (_listed(api, target) or ()) and moved not in (_listed(api, source)
                                                                       or ())

    with catalog_consumer(rf"{api.tenant}\.invoices\.ecommerce\.entity_changed",
                          "invoice-lists"):
        # The first poll sends every invoice (~300 events) through the consumer: generous.
        # Another invoice's event may end the new list's copy first; the moved invoice's
        # own event ends the old one.
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not moved_in_both():
            time.sleep(0.3)
    assert moved in (_listed(api, target) or ()), "the change did not reach the new list"
    assert _listed(api, source) == [key for key in before_source if key != moved]
