"""Reference source servers: small, real HTTP servers that speak each source system's API.

Directus (customers), a third-party product API and an e-commerce platform (invoices), built
from one seed so their data agree, with fault knobs under `/__control/`. Tests and the local
demo run the adapters against them. Framework-free: nothing here imports Django.

    with start_reference_sources(seed=42) as sources:
        requests.get(f"{sources.products_url}/v1/products",
                     headers={"X-API-Key": sources.products_api_key})

`python -m devtools.reference` runs them in the foreground.
"""

from devtools.reference.dataset import Sizes
from devtools.reference.launcher import LOCAL_PORTS, ReferenceSources, start_reference_sources

__all__ = ["LOCAL_PORTS", "ReferenceSources", "Sizes", "start_reference_sources"]
