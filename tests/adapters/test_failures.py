"""What every adapter does when its source misbehaves, and what it tells the platform."""

from __future__ import annotations

import pytest

from apps.adapters.base import (
    HealthState,
    InvalidQuery,
    SourceAuthError,
    SourceRateLimited,
    SourceUnavailable,
    UnknownEntityType,
)
from apps.adapters.directus.adapter import DirectusAdapter
from apps.adapters.ecommerce.adapter import EcommerceAdapter
from apps.adapters.http_connection import SourceUnreachable
from apps.adapters.products.adapter import ProductsAdapter
from apps.adapters.registry import get_adapter_class

# name, entity type, an id that exists, the credentials key
SOURCES = [
    ("directus", "customer", "1", "token"),
    ("products", "product", "SKU-00001", "api_key"),
    ("ecommerce", "invoice", "INV-000001", "token"),
]
each_source = pytest.mark.parametrize(("name", "entity_type", "entity_id", "credential"),
                                      SOURCES, ids=[source[0] for source in SOURCES])


@each_source
def test_rate_limit_raises_with_retry_after(make_adapter, controls, name, entity_type,
                                            entity_id, credential):
    controls[name].faults(rate_limit={"requests": 1, "window_s": 60, "retry_after_s": 7})
    adapter = make_adapter(name)
    assert adapter.get_entity(entity_type, entity_id) is not None
    with pytest.raises(SourceRateLimited) as error:
        adapter.get_entity(entity_type, entity_id)
    assert error.value.retry_after_seconds == 7
    assert error.value.retryable
    assert adapter.get_metrics()["requests"] == {"ok": 1, "rate_limited": 1}


@each_source
def test_a_source_that_is_down_is_unavailable(make_adapter, controls, name, entity_type,
                                              entity_id, credential):
    controls[name].faults(down=True)
    with pytest.raises(SourceUnreachable, match="cannot be reached"):
        make_adapter(name).get_entity(entity_type, entity_id)


@each_source
def test_a_server_error_is_unavailable(make_adapter, controls, name, entity_type, entity_id,
                                       credential):
    controls[name].faults(error_rate=1.0, status=503)
    with pytest.raises(SourceUnavailable, match="503") as error:
        make_adapter(name).get_entity(entity_type, entity_id)
    assert not isinstance(error.value, SourceUnreachable)


@each_source
def test_a_slow_source_times_out(make_adapter, controls, name, entity_type, entity_id,
                                 credential):
    # Thirty times the timeout: a client descheduled for a moment still times out.
    controls[name].faults(latency_ms=3000)
    adapter = make_adapter(name, read_timeout=0.1)
    with pytest.raises(SourceUnreachable, match="in time"):
        adapter.get_entity(entity_type, entity_id)
    assert adapter.get_metrics()["requests"] == {"timeout": 1}


@each_source
def test_a_wrong_credential_is_an_auth_error(make_adapter, name, entity_type, entity_id,
                                             credential):
    adapter = make_adapter(name, credentials={credential: "wrong"})
    with pytest.raises(SourceAuthError, match="credentials") as error:
        adapter.get_entity(entity_type, entity_id)
    assert not error.value.retryable


@each_source
def test_a_missing_credential_is_named(make_adapter, name, entity_type, entity_id,
                                       credential):
    with pytest.raises(SourceAuthError, match=f"no '{credential}' credential"):
        make_adapter(name, credentials={})


def test_an_expired_directus_token_is_an_auth_error(directus, controls):
    controls["directus"].faults(token_expired=True)
    with pytest.raises(SourceAuthError, match="TOKEN_EXPIRED"):
        directus.get_entity("customer", "1")


@each_source
def test_health(make_adapter, controls, name, entity_type, entity_id, credential):
    # "Slow" is a threshold on real latency: high enough that a busy machine's local call
    # stays under it, and the injected latency just over it.
    adapter = make_adapter(name, health_slow_ms=1000)
    healthy = adapter.health_check()
    assert healthy.state == HealthState.HEALTHY
    assert healthy.latency_ms is not None
    controls[name].faults(latency_ms=1050)
    assert adapter.health_check().state == HealthState.DEGRADED
    controls[name].faults(error_rate=1.0, status=500)
    assert adapter.health_check().state == HealthState.DEGRADED
    controls[name].faults(down=True)
    assert adapter.health_check().state == HealthState.DOWN
    controls[name].faults()
    refused = make_adapter(name, credentials={credential: "wrong"}).health_check()
    assert refused.state == HealthState.DOWN
    assert "credentials" in refused.detail


@each_source
def test_contract_basics(make_adapter, name, entity_type, entity_id, credential):
    adapter = make_adapter(name)
    schema = adapter.get_schema(entity_type)
    entity = adapter.get_entity(entity_type, entity_id)
    assert entity is not None
    assert {spec.name for spec in schema.fields} == set(entity.attributes)
    # The node the catalog consumer's lineage edges start at, named by the source's one name.
    assert adapter.get_lineage().upstream == {entity_type: f"source:{name}/{entity_type}"}
    assert adapter.get_sla().latency_p99_ms > 0
    with pytest.raises(UnknownEntityType):
        adapter.get_entity("spaceship", "1")
    with pytest.raises(InvalidQuery, match="not a .* cursor"):
        next(adapter.stream_changes("garbage"))


def test_the_registry_finds_all_three():
    assert get_adapter_class("directus") is DirectusAdapter
    assert get_adapter_class("products") is ProductsAdapter
    assert get_adapter_class("ecommerce") is EcommerceAdapter


# -- readable messages -------------------------------------------------------------------------

def _readable(message: str) -> None:
    """One sentence per thought, and a path without its query string."""
    assert ".." not in message
    assert ".;" not in message
    assert "?" not in message
    assert "%7B" not in message and "%22" not in message  # noqa: PT018 - one reason: encoding
    assert len(message) < 300, message


def test_an_unreachable_source_names_the_path_and_the_reason_not_the_query(make_adapter):
    adapter = make_adapter("directus")
    adapter.http.base_url = "http://127.0.0.1:1"  # nothing listens on port 1
    with pytest.raises(SourceUnreachable) as error:
        # A change batch asks with a long JSON filter in its query string.
        next(adapter.stream_changes(None))
    message = str(error.value)
    _readable(message)
    assert "GET /items/customers (connection refused)" in message


def test_a_source_that_drops_connections_says_so_briefly(directus, controls):
    controls["directus"].faults(down=True)
    with pytest.raises(SourceUnreachable) as error:
        next(directus.stream_changes(None))
    _readable(str(error.value))


def test_a_timeout_names_the_call_and_the_limit(make_adapter, controls):
    controls["directus"].faults(latency_ms=3000)
    with pytest.raises(SourceUnreachable) as error:
        next(make_adapter("directus", read_timeout=0.1).stream_changes(None))
    _readable(str(error.value))
    assert "did not answer GET /items/customers in time (read timeout 0.1 s)" in str(
        error.value)


@each_source
def test_source_errors_end_their_sentences_once(make_adapter, controls, name, entity_type,
                                                entity_id, credential):
    with pytest.raises(SourceAuthError) as refused:
        make_adapter(name, credentials={credential: "wrong"}).get_entity(entity_type,
                                                                          entity_id)
    _readable(str(refused.value))
    controls[name].faults(error_rate=1.0, status=503)
    with pytest.raises(SourceUnavailable) as failing:
        make_adapter(name).get_entity(entity_type, entity_id)
    _readable(str(failing.value))
