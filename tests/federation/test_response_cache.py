"""The response cache: a repeated read is served without the sources; a change in Directus
reaches the next answer once its event has travelled the broker and been consumed."""

from __future__ import annotations

import time
import uuid

import requests

from devtools.reference import directus
from dictamesh.events.topics import provision_tenant_topics
from tests.consumers import catalog_consumer
from tests.federation.conftest import Api, publish_source_changes
from tests.sources.conftest import calls, control

QUERY = 'query { customer(id: "7") { id name } }'


def test_a_repeated_query_is_a_cache_hit_whatever_its_whitespace(api: Api):
    first = api.query(QUERY)
    control(api.sources.directus_url, "reset")
    again = api.query("# the same\nquery {customer(id:\"7\"){id\n name}}")
    assert again == first
    assert calls(api.sources.directus_url) == 0
    other_variables = api.query('query($i: ID!) { customer(id: $i) { id name } }', {"i": "8"})
    assert other_variables["data"]["customer"]["id"] == "8"


def _wait_for(condition, timeout: float = 45.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.3)
    return False


def test_a_directus_change_is_visible_once_its_event_is_consumed(api_committed: Api,
                                                                 kafka_bootstrap, settings):
    settings.GRAPHQL_RESPONSE_CACHE_SECONDS = 600  # only the event can end the cached answer
    api = api_committed
    provision_tenant_topics(api.tenant)
    before = api.query(QUERY)["data"]["customer"]["name"]
    new_name = f"Renamed {uuid.uuid4().hex[:6]}"
    requests.patch(f"{api.sources.directus_url}/items/customers/7", json={"name": new_name},
                   headers={"Authorization": f"Bearer {directus.DEFAULT_TOKEN}"},
                   timeout=10).raise_for_status()

    publish_source_changes(api.tenant, "customer")
    # Not consumed yet: the cached answer still stands.
    assert api.query(QUERY)["data"]["customer"]["name"] == before

    with catalog_consumer(rf"{api.tenant}\.customers\.directus\.entity_changed",
                          "graphql-cache"):
        assert _wait_for(lambda: api.query(QUERY)["data"]["customer"]["name"] == new_name), \
            "the change did not reach the GraphQL answer"
