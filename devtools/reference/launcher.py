"""Start the reference sources together, from one seed, so their data agree: Directus,
products and e-commerce (read by code adapters) and suppliers (read by a description)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Self, TypeVar

from devtools.reference.dataset import Sizes
from devtools.reference.directus import DirectusServer
from devtools.reference.ecommerce import EcommerceServer
from devtools.reference.products import ProductsServer
from devtools.reference.server import ReferenceServer
from devtools.reference.suppliers import SuppliersServer

SOURCE_NAMES = ("directus", "products", "ecommerce", "suppliers")
# The ports of the local run (`make run`, `python -m devtools.reference`), defined once: the
# launcher's command line, the local stack and the demo tenant's connections read them here.
# Tests and benchmarks pass no ports and get free ones.
LOCAL_PORTS: Mapping[str, int] = MappingProxyType(
    {"directus": 8055, "products": 8056, "ecommerce": 8057, "suppliers": 8058})
S = TypeVar("S", bound=ReferenceServer)


@dataclass(frozen=True)
class ReferenceSources:
    """The running servers, their base URLs and their credentials."""

    directus: DirectusServer
    products: ProductsServer
    ecommerce: EcommerceServer
    suppliers: SuppliersServer

    @property
    def servers(self) -> tuple[ReferenceServer, ...]:
        return (self.directus, self.products, self.ecommerce, self.suppliers)

    @property
    def directus_url(self) -> str:
        return self.directus.base_url

    @property
    def directus_token(self) -> str:
        return self.directus.token

    @property
    def products_url(self) -> str:
        return self.products.base_url

    @property
    def products_api_key(self) -> str:
        return self.products_api_keys[0]

    @property
    def products_api_keys(self) -> tuple[str, ...]:
        return tuple(sorted(self.products.api_keys))

    @property
    def ecommerce_url(self) -> str:
        return self.ecommerce.base_url

    @property
    def ecommerce_token(self) -> str:
        return self.ecommerce.token

    @property
    def suppliers_url(self) -> str:
        return self.suppliers.base_url

    def reseed(self, seed: int, sizes: Sizes | None = None) -> None:
        """New data on every server at once, so they stay consistent with each other."""
        for server in self.servers:
            server.reseed(seed, sizes or server.sizes)

    def reset(self) -> None:
        """Every server as at launch: launch data, no faults, zeroed stats, no webhook."""
        for server in self.servers:
            server.reset()

    def stop(self) -> None:
        for server in self.servers:
            server.stop()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def describe(self) -> str:
        """What a person needs to call the servers by hand."""
        return "\n".join([
            f"Directus   {self.directus_url}   Authorization: Bearer {self.directus_token}",
            f"Products   {self.products_url}   X-API-Key: {self.products_api_key}",
            f"E-commerce {self.ecommerce_url}   Authorization: Bearer {self.ecommerce_token}",
            f"Suppliers  {self.suppliers_url}   Authorization: Bearer {self.suppliers.token}",
            "Control    <url>/__control/{faults,reset,stats,seed,endpoint-faults,effects} "
            "(and /webhook on Directus)",
        ])


def start_reference_sources(seed: int = 42, sizes: Sizes | None = None, host: str = "127.0.0.1",
                            ports: Mapping[str, int] | None = None) -> ReferenceSources:
    """Start Directus, products, e-commerce and suppliers on background threads.

    `ports` maps those names (SOURCE_NAMES) to a port; a missing name, or port 0, gets a free
    port.
    """
    ports = ports or {}
    unknown = set(ports) - set(SOURCE_NAMES)
    if unknown:
        raise ValueError(f"unknown source(s) {sorted(unknown)}; known: {SOURCE_NAMES}")
    options: dict[str, Any] = {"seed": seed, "sizes": sizes or Sizes(), "host": host}
    started: list[ReferenceServer] = []

    def start(server: S) -> S:
        started.append(server)
        return server.start()

    try:
        return ReferenceSources(
            directus=start(DirectusServer(port=ports.get("directus", 0), **options)),
            products=start(ProductsServer(port=ports.get("products", 0), **options)),
            ecommerce=start(EcommerceServer(port=ports.get("ecommerce", 0), **options)),
            suppliers=start(SuppliersServer(port=ports.get("suppliers", 0), **options)),
        )
    except BaseException:
        for server in started:
            server.stop()
        raise
