"""`sources { sla }` over HTTP: declared service levels beside the observed ones, measured
from the poll and health-check records and the catalog's event log."""

from __future__ import annotations

import statistics
import uuid
from datetime import timedelta

import pytest
from django.db import connection

from apps.adapters import services
from apps.adapters.changes import poll
from apps.adapters.models import SourceConnection
from apps.catalog import services as catalog_services
from tests.federation.conftest import Api
from tests.sources.conftest import control

SOURCES = """{ sources { name adapter health sla { declaredFreshnessSeconds
  observedFreshnessP95 declaredAvailability observedAvailability observations } } }"""


def _sources(api: Api) -> dict[str, dict]:
    body = api.query(SOURCES)
    assert "errors" not in body, body
    return {source["name"]: source for source in body["data"]["sources"]}


def test_declared_levels_are_the_adapters_until_the_connection_declares_its_own(api: Api):
    sources = _sources(api)
    assert {name: s["adapter"] for name, s in sources.items()} == {
        "customers": "directus", "products": "products", "invoices": "ecommerce"}
    # The product API's description declares 300 s and 0.99 (products/description.yaml).
    assert sources["products"]["sla"]["declaredFreshnessSeconds"] == 300
    assert sources["products"]["sla"]["declaredAvailability"] == pytest.approx(0.99)
    assert sources["products"]["sla"]["observedAvailability"] is None  # nothing observed
    assert sources["products"]["sla"]["observations"] == 0

    SourceConnection.objects.filter(name="products").update(
        declared_freshness_seconds=30, declared_availability=0.999)

    sla = _sources(api)["products"]["sla"]
    assert sla["declaredFreshnessSeconds"] == 30
    assert sla["declaredAvailability"] == pytest.approx(0.999)


def test_observed_availability_counts_polls_and_health_checks(api: Api):
    control(api.sources.directus_url, "reset")
    customers = services.data_product_named("customers")
    for _ in range(3):
        assert not poll(customers).error
    control(api.sources.directus_url, "faults", {"down": True})
    assert poll(customers).error
    customers.check_health()
    control(api.sources.directus_url, "reset")

    source = _sources(api)["customers"]
    assert source["sla"]["observations"] == 5
    assert source["sla"]["observedAvailability"] == pytest.approx(3 / 5)
    assert source["health"] == "down"  # as last checked


def test_observed_freshness_is_the_95th_percentile_of_change_to_catalog_lag(api: Api):
    with connection.cursor() as cursor:
        cursor.execute("SELECT now()")  # what the log's recorded_at will be in this transaction
        now = cursor.fetchone()[0]
    lags = list(range(1, 21))
    entries = [{"event_id": uuid.uuid4(), "event_type": "UPDATED", "entity_type": "invoice",
                "entity_id": f"INV-{lag}", "entity_version": lag, "source_system": "ecommerce",
                "event_timestamp": now - timedelta(seconds=lag)} for lag in lags]
    # A change from before the window does not count, however late it arrived.
    entries.append({**entries[0], "event_id": uuid.uuid4(),
                    "event_timestamp": now - timedelta(days=30)})
    catalog_services.append_events(entries)

    sources = _sources(api)

    expected = statistics.quantiles(lags, n=20, method="inclusive")[18]  # 19.05
    assert sources["invoices"]["sla"]["observedFreshnessP95"] == pytest.approx(expected)
    assert sources["customers"]["sla"]["observedFreshnessP95"] is None  # no changes seen
