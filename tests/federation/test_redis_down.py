"""Redis down: GraphQL keeps answering, past the response cache and the entity cache's L2,
and counts each bypass. Redis itself is not stopped (other tests share it): the platform
is pointed at a port where nothing listens."""

from __future__ import annotations

import copy
import socket
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from prometheus_client import REGISTRY

from apps.federation import cache as response_cache
from apps.federation import ratelimit
from dictamesh.redis_clients import forget_shared_redis_client
from tests.federation.conftest import Api

QUERY = '{ customer(id: "1") { id email invoices { id } } }'


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # free once closed: connections are refused


def _bypassed(component: str) -> float:
    return REGISTRY.get_sample_value("dictamesh_redis_bypassed_total",
                                     {"component": component}) or 0.0


@contextmanager
def _redis_down(settings) -> Iterator[None]:
    saved = (settings.CACHES, settings.REDIS_URL)
    url = f"redis://127.0.0.1:{_closed_port()}/0"
    caches = copy.deepcopy(settings.CACHES)
    caches["default"]["LOCATION"] = url
    settings.CACHES, settings.REDIS_URL = caches, url
    _forget_clients()
    try:
        yield
    finally:
        settings.CACHES, settings.REDIS_URL = saved
        _forget_clients()


def _forget_clients() -> None:
    for purpose in ("breaker", "ratelimit"):
        forget_shared_redis_client(purpose)
    ratelimit.reset()
    response_cache.OUTAGE.reset()


@pytest.fixture
def cached_once(api: Api) -> dict:
    """The answer while Redis is up (it is stored in the response cache)."""
    return api.query(QUERY)


def test_queries_are_answered_while_redis_is_down(api: Api, settings, cached_once):
    before_cache = _bypassed("graphql_response_cache")
    before_l2 = _bypassed("entity_cache_l2")
    with _redis_down(settings):
        first = api.post(QUERY)
        second = api.post(QUERY)
        unseen = api.post('{ customer(id: "3") { id } }')  # in no process cache yet
    assert first.status_code == 200, first.content
    assert first.json() == cached_once
    assert second.status_code == 200
    assert second.json() == cached_once
    # both requests went past the response cache: the second without waiting on Redis
    assert _bypassed("graphql_response_cache") - before_cache >= 2
    assert unseen.json() == {"data": {"customer": {"id": "3"}}}
    assert _bypassed("entity_cache_l2") > before_l2


def test_the_response_cache_is_used_again_once_redis_is_back(api: Api, settings, cached_once):
    with _redis_down(settings):
        assert api.post(QUERY).status_code == 200
    before = _bypassed("graphql_response_cache")
    assert api.query(QUERY) == cached_once
    assert _bypassed("graphql_response_cache") == before
