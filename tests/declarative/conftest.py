"""A source connected by description alone: the reference suppliers API, described in
`suppliers.yaml`, next to the three code-adapter sources."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.cache import cache

from apps.adapters import services
from devtools.reference.suppliers import DEFAULT_TOKEN, DESCRIPTION, SuppliersServer
from tests.federation.conftest import api, api_committed, gql_sources  # noqa: F401 - fixtures
from tests.sources.conftest import connected, control, sources  # noqa: F401 - fixtures

SPEC = DESCRIPTION


def description(**changes: Any) -> dict[str, Any]:
    """The suppliers description with top-level keys replaced."""
    return {**copy.deepcopy(SPEC), **changes}


@pytest.fixture(scope="session")
def suppliers_session(sources) -> Iterator[SuppliersServer]:  # noqa: F811
    # As many products as the session's products server, so every SKU has its supplier.
    with SuppliersServer(seed=7, sizes=sources.products.sizes) as server:
        yield server


@pytest.fixture
def suppliers_server(suppliers_session) -> SuppliersServer:
    """The suppliers API as at launch: its data, no faults."""
    control(suppliers_session.base_url, "reset")
    return suppliers_session


@pytest.fixture
def suppliers(suppliers_server, connected) -> SuppliersServer:  # noqa: F811
    """Tenant A with the suppliers source connected by its description (and the three code
    sources, as `connected` sets up)."""
    cache.clear()
    services.save_description("suppliers", SPEC, saved_by="test")
    services.connect_source("suppliers", "suppliers", suppliers_server.base_url,
                            {"token": DEFAULT_TOKEN})
    return suppliers_server
