"""What the GraphQL tests expect, written from the reference data set.

The reference servers are started from SEED and SIZES (conftest) and reset to them; the
data set module builds the same records from the same seed, so a test's expectation never
comes from the API or the data products under test.
"""

from __future__ import annotations

from typing import Any

from devtools.reference import dataset
from tests.federation.conftest import SEED, SIZES

CUSTOMERS = {str(c["id"]): c for c in dataset.customers(SEED, SIZES.customers)}
PRODUCTS = {p["sku"]: p for p in dataset.products(SEED, SIZES.products)}
INVOICES = dataset.invoices(SEED, SIZES)


def invoices_of(customer_id: str) -> list[dict[str, Any]]:
    """A customer's seeded invoices, in the e-commerce API's order: (updated_at, id)."""
    mine = [i for i in INVOICES if str(i["customer_id"]) == customer_id]
    return sorted(mine, key=lambda i: (i["updated_at"], i["id"]))
