"""Deletions by polling: Directus listings do not report deletions, so every N successful
polls compare an id listing with the cache. A deletion is invisible in GraphQL within N
polls; a source that fails or lists incompletely never reads as deletions."""

from __future__ import annotations

import time

import pytest
import requests
from django.core.exceptions import ValidationError

from apps.adapters import services
from apps.adapters.changes import PollResult, poll
from apps.adapters.models import SourceConnection
from apps.catalog.models import CacheStatus
from apps.events.models import OutboxMessage
from apps.events.services import get_codec
from apps.federation.invalidation import invalidate
from devtools.reference import directus
from tests.federation.conftest import Api
from tests.sources.conftest import control

CUSTOMER = "{ customer(id: $id) { id name } }"


def _delete_at_source(api_url: str, key: str) -> None:
    requests.delete(f"{api_url}/items/customers/{key}", timeout=10,
                    headers={"Authorization": f"Bearer {directus.DEFAULT_TOKEN}"}
                    ).raise_for_status()


def _every(polls: int) -> services.DataProduct:
    connection = SourceConnection.objects.get(name="customers")
    connection.options = {"deletion_check_every_polls": polls}
    connection.save()
    return services.data_product_named("customers")


def _customer(api: Api, key: str) -> object:
    return api.query(f"query($id: ID!) {CUSTOMER}", {"id": key})["data"]["customer"]


def _poll(product: services.DataProduct) -> PollResult:
    """A poll, then what the catalog consumer does with its events (the relay and the
    broker in between are tested elsewhere): the GraphQL caches forget changed entities."""
    result = poll(product)
    changed: dict[str, set[str]] = {}
    for row in OutboxMessage.objects.all():
        entity = get_codec().decode(bytes(row.value)).record["entity"]
        changed.setdefault(entity["type"], set()).add(entity["id"])
    invalidate({entity_type: sorted(ids) for entity_type, ids in changed.items()})
    OutboxMessage.objects.all().delete()
    return result


def test_a_deletion_is_null_in_graphql_after_n_polls_and_not_before(api: Api):
    product = _every(3)
    assert _poll(product).sweep is None  # poll 1
    assert _customer(api, "7") is not None
    _delete_at_source(api.sources.directus_url, "7")

    second = _poll(product)  # poll 2: the listing of changes does not show deletions
    assert (second.error, second.sweep) == ("", None)
    assert _customer(api, "7") is not None  # still served from the cache

    third = poll(product)  # poll 3: the sweep
    assert third.sweep is not None
    assert (third.sweep.deleted, third.sweep.skipped) == (1, "")
    assert third.sweep.listed == 119
    [row] = OutboxMessage.objects.filter(key="7")
    assert get_codec().decode(bytes(row.value)).record["event_type"] == "DELETED"
    assert not CacheStatus.objects.filter(entity_type="customer", entity_id="7").exists()
    invalidate({"customer": ["7"]})  # the consumer, on that event
    assert _customer(api, "7") is None
    # The count starts again: the next sweep is three polls later.
    assert [_poll(product).sweep for _ in range(2)] == [None, None]
    assert _poll(product).sweep is not None


def test_the_sweep_lists_ids_only(api: Api):
    product = _every(1)
    poll(product)
    control(api.sources.directus_url, "reset")
    control(api.sources.directus_url, "faults", {})
    result = poll(product)
    assert result.sweep is not None
    stats = requests.get(f"{api.sources.directus_url}/__control/stats", timeout=5).json()
    # One changes batch (two reads: updated and never-updated items) and one id page.
    assert stats["requests"]["GET /items/customers"] == 3


def test_a_failing_source_never_reads_as_deletions(api: Api):
    product = _every(2)
    poll(product)
    _delete_at_source(api.sources.directus_url, "7")
    control(api.sources.directus_url, "faults", {"down": True})
    failed = poll(product)  # would be the sweeping poll, but the source is down
    assert failed.error
    assert failed.sweep is None
    assert CacheStatus.objects.filter(entity_type="customer", entity_id="7").exists()

    control(api.sources.directus_url, "faults", {})
    # The breaker opened on the failures: polls fail fast, sweeping nothing, until it lets
    # a probe through (the fixture's reset timeout is 1 s; the deadline is generous).
    deadline = time.monotonic() + 60
    recovered = poll(product)
    while recovered.error and time.monotonic() < deadline:
        assert recovered.sweep is None
        time.sleep(0.2)
        recovered = poll(product)
    assert recovered.error == ""
    assert recovered.sweep is not None  # failed polls do not count: this is the 2nd
    assert recovered.sweep.deleted == 1


def test_an_item_without_a_readable_id_stops_the_sweep_which_stays_due(api: Api):
    product = _every(2)
    poll(product)
    _delete_at_source(api.sources.directus_url, "7")
    # Item 3 is served without its id: it might be any customer, so nothing is deleted.
    control(api.sources.directus_url, "faults", {"malformed": ["3"]})
    result = poll(product)
    assert result.sweep is not None
    assert (result.sweep.deleted, result.sweep.skipped) == (0, "listing did not end")
    assert CacheStatus.objects.filter(entity_type="customer", entity_id="7").exists()

    # The skipped sweep left the count due: the very next poll sweeps again.
    control(api.sources.directus_url, "faults", {})
    again = poll(product)
    assert again.sweep is not None
    assert again.sweep.deleted == 1


def test_zero_turns_the_sweep_off(api: Api):
    product = _every(0)
    assert all(poll(product).sweep is None for _ in range(3))


@pytest.mark.parametrize("value", [-1, "5", 2.5, True])
def test_a_bad_setting_is_refused_saying_what_to_give(api: Api, value):
    connection = SourceConnection.objects.get(name="customers")
    connection.options = {"deletion_check_every_polls": value}
    with pytest.raises(ValidationError, match="whole number >= 0"):
        connection.full_clean()
