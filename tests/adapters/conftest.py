"""The three source adapters against the reference servers, over real HTTP.

One set of servers for the session, reset over HTTP before every test (data, faults, stats,
webhook). These tests need no database.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from apps.adapters.base import SourceChange, SourceConfig
from apps.adapters.directus.adapter import DirectusAdapter
from apps.adapters.ecommerce.adapter import EcommerceAdapter
from apps.adapters.http_source import HttpSourceAdapter
from apps.adapters.products.adapter import ProductsAdapter
from devtools.reference import ReferenceSources, Sizes, start_reference_sources
from tests.webhook_receiver import WebhookReceiver

SEED = 42
SIZES = Sizes(customers=120, products=60, invoices=200)


class Control:
    """One reference server's control API, and its request counts."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url

    def post(self, name: str, body: Any) -> Any:
        response = requests.post(f"{self.base_url}/__control/{name}", json=body, timeout=10)
        assert response.status_code == 200, response.text
        return response.json()

    def faults(self, **knobs: Any) -> None:
        self.post("faults", knobs)

    def stats(self) -> dict[str, Any]:
        response = requests.get(f"{self.base_url}/__control/stats", timeout=5)
        response.raise_for_status()
        stats: dict[str, Any] = response.json()
        return stats

    def calls(self, request: str) -> int:
        """How many times the server received ``request`` ("GET /items/customers")."""
        return int(self.stats()["requests"].get(request, 0))


@pytest.fixture(scope="session")
def sources() -> Iterator[ReferenceSources]:
    with start_reference_sources(seed=SEED, sizes=SIZES) as running:
        yield running


@pytest.fixture(autouse=True)
def _reset_sources(sources: ReferenceSources) -> None:
    for url in (sources.directus_url, sources.products_url, sources.ecommerce_url):
        requests.post(f"{url}/__control/reset", timeout=10).raise_for_status()


@pytest.fixture
def controls(sources: ReferenceSources) -> dict[str, Control]:
    return {"directus": Control(sources.directus_url),
            "products": Control(sources.products_url),
            "ecommerce": Control(sources.ecommerce_url)}


MakeAdapter = Callable[..., HttpSourceAdapter]


@pytest.fixture
def make_adapter(sources: ReferenceSources) -> Iterator[MakeAdapter]:
    """``make_adapter(name, credentials=None, timeouts=None, **options)``: an adapter on
    the reference server of that name, with its valid credentials unless given others."""
    made: list[HttpSourceAdapter] = []
    classes: dict[str, tuple[type[HttpSourceAdapter], str, dict[str, str]]] = {
        "directus": (DirectusAdapter, sources.directus_url, {"token": sources.directus_token}),
        "products": (ProductsAdapter, sources.products_url,
                     {"api_key": sources.products_api_key}),
        "ecommerce": (EcommerceAdapter, sources.ecommerce_url,
                      {"token": sources.ecommerce_token}),
    }

    def make(name: str, credentials: dict[str, str] | None = None,
             read_timeout: float = 5.0, **options: Any) -> HttpSourceAdapter:
        cls, url, valid = classes[name]
        adapter = cls(SourceConfig(name=f"test-{name}", base_url=url,
                                   credentials=valid if credentials is None else credentials,
                                   options=options, read_timeout=read_timeout))
        made.append(adapter)
        return adapter

    yield make
    for adapter in made:
        adapter.close()


@pytest.fixture
def directus(make_adapter: MakeAdapter) -> DirectusAdapter:
    adapter = make_adapter("directus")
    assert isinstance(adapter, DirectusAdapter)
    return adapter


@pytest.fixture
def products(make_adapter: MakeAdapter) -> ProductsAdapter:
    adapter = make_adapter("products")
    assert isinstance(adapter, ProductsAdapter)
    return adapter


@pytest.fixture
def ecommerce(make_adapter: MakeAdapter) -> EcommerceAdapter:
    adapter = make_adapter("ecommerce")
    assert isinstance(adapter, EcommerceAdapter)
    return adapter


def api(base_url: str, method: str, path: str, headers: dict[str, str],
        body: Any = None) -> Any:
    """Change data through the source's own API, as its users would."""
    response = requests.request(method, base_url + path, json=body, headers=headers, timeout=5)
    assert response.status_code < 300, response.text
    return response.json() if response.content else None


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    hook = WebhookReceiver(status=204)
    yield hook
    hook.close()


def changes_resuming(adapter: HttpSourceAdapter,
                     cursor: str | None = None) -> tuple[list[SourceChange], str | None]:
    """Every change since ``cursor``, taking one batch per stream_changes call and resuming
    from the stored cursor, as a poller that stops after each batch would."""
    changes: list[SourceChange] = []
    while True:
        batch = next(adapter.stream_changes(cursor))
        changes += batch.changes
        cursor = batch.cursor
        if batch.complete:
            return changes, cursor


def all_changes(adapter: HttpSourceAdapter,
                cursor: str | None = None) -> tuple[list[SourceChange], str | None]:
    """Every change since ``cursor`` from one stream_changes call, and the last cursor."""
    changes: list[SourceChange] = []
    for batch in adapter.stream_changes(cursor):
        changes += batch.changes
        cursor = batch.cursor
    return changes, cursor
