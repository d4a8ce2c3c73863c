"""Reference servers for the whole session, reset over HTTP before every test.

These tests need no database: they talk HTTP to the servers, as the adapters will.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from devtools.reference import ReferenceSources, Sizes, start_reference_sources

SEED = 42
SIZES = Sizes(customers=120, products=60, invoices=200)


class Api:
    """A `requests.Session` bound to one server's base URL, with its credentials."""

    def __init__(self, base_url: str, headers: dict[str, str] | None = None) -> None:
        self.base_url = base_url
        self.session = requests.Session()
        self.session.headers.update(headers or {})

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", 5)
        return self.session.request(method, self.base_url + path, **kwargs)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("POST", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("DELETE", path, **kwargs)

    def control(self, name: str, body: Any = None) -> Any:
        """POST (with a body) or GET a control endpoint; fail the test on a non-200."""
        url = f"{self.base_url}/__control/{name}"
        response = requests.get(url, timeout=5) if body is None else requests.post(
            url, json=body, timeout=5)
        assert response.status_code == 200, response.text
        return response.json()

    def close(self) -> None:
        self.session.close()


@pytest.fixture(scope="session")
def sources() -> Iterator[ReferenceSources]:
    with start_reference_sources(seed=SEED, sizes=SIZES) as running:
        yield running


@pytest.fixture(autouse=True)
def _reset_sources(sources: ReferenceSources) -> None:
    for url in (sources.directus_url, sources.products_url, sources.ecommerce_url):
        requests.post(f"{url}/__control/reset", timeout=10).raise_for_status()


@pytest.fixture
def directus(sources: ReferenceSources) -> Iterator[Api]:
    api = Api(sources.directus_url, {"Authorization": f"Bearer {sources.directus_token}"})
    yield api
    api.close()


@pytest.fixture
def products(sources: ReferenceSources) -> Iterator[Api]:
    api = Api(sources.products_url, {"X-API-Key": sources.products_api_key})
    yield api
    api.close()


@pytest.fixture
def ecommerce(sources: ReferenceSources) -> Iterator[Api]:
    api = Api(sources.ecommerce_url, {"Authorization": f"Bearer {sources.ecommerce_token}"})
    yield api
    api.close()
