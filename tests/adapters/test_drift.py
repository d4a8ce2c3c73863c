"""Schema drift: a source that answers, but whose records no longer map, is not healthy."""

from __future__ import annotations

import pytest

from apps.adapters.base import EntityQuery, HealthState, MalformedRecord
from tests.adapters.conftest import SIZES
from tests.adapters.test_failures import each_source


def test_a_directus_collection_without_status_is_degraded_naming_the_field(directus,
                                                                            controls):
    assert directus.health_check().state == HealthState.HEALTHY
    # A collection created without `status`: Directus leaves the requested field out.
    controls["directus"].faults(missing_fields=["status"])
    health = directus.health_check()
    assert health.state == HealthState.DEGRADED
    assert "status must be non-empty text, got missing" in health.detail
    assert "schema drift" in health.detail
    # What the health check warns of: every record is skipped as malformed.
    page = directus.query_entities("customer", EntityQuery(page_size=10))
    assert page.entities == []
    assert len(page.malformed) == 10


EVERY_ID = {"directus": [str(n) for n in range(1, SIZES.customers + 1)],
            "products": [f"SKU-{n:05d}" for n in range(1, SIZES.products + 1)],
            "ecommerce": [f"INV-{n:06d}" for n in range(1, SIZES.invoices + 1)]}


@each_source
def test_records_that_do_not_map_degrade_every_source(
        make_adapter, controls, name, entity_type, entity_id, credential):
    assert make_adapter(name).health_check().state == HealthState.HEALTHY
    # Whichever record the health request reads, it does not map.
    controls[name].faults(malformed=EVERY_ID[name])
    health = make_adapter(name).health_check()
    assert health.state == HealthState.DEGRADED
    assert "do not map" in health.detail


@pytest.mark.parametrize("missing", [["email"], ["date_created"], ["name", "status"]])
def test_each_missing_field_is_named(directus, controls, missing):
    controls["directus"].faults(missing_fields=missing)
    detail = directus.health_check().detail
    assert all(f"{field} must be" in detail for field in missing)


def test_malformed_records_are_reported_to_the_listener_from_every_read(directus, controls):
    seen: list[MalformedRecord] = []
    directus.on_malformed = seen.append
    controls["directus"].faults(missing_fields=["status"])
    directus.query_entities("customer", EntityQuery(ids=["1", "2"]))
    next(directus.stream_changes(None))
    assert len(seen) > 2
    assert {error.entity_type for error in seen} == {"customer"}
    directus.health_check()  # a probe is not a read: nothing more reported
    assert directus.get_metrics()["malformed_records"] == len(seen)


def test_directus_11_refuses_the_query_and_health_still_names_the_field(directus, controls):
    # 11.x answers 403 for a query naming a field the collection lacks (seen on 11.3.5).
    controls["directus"].faults(major_version=11, missing_fields=["status"])
    health = directus.health_check()
    assert health.state == HealthState.DEGRADED
    assert "Directus refuses the field 'status' of 'customers'" in health.detail
    assert "schema drift" in health.detail


def test_directus_11_with_every_field_is_healthy(directus, controls):
    controls["directus"].faults(major_version=11)
    assert directus.health_check().state == HealthState.HEALTHY
    assert directus.get_entity("customer", "1") is not None
