"""Generate a commerce-shaped relationship graph in the current tenant schema, fast (COPY).

Shape: invoices --billed_to--> customers, invoices --has_item--> invoice items,
invoice items --references--> products, plus curated customer --same_as--> customer edges
that close cycles. With the defaults: 1,000,000 relationships.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

from django.db import connection

COLUMNS = ("subject_entity_type", "subject_entity_id", "relationship_type",
           "object_entity_type", "object_entity_id", "origin", "source_system", "created_by",
           "created_at", "retired_by")


def generate_edges(
    invoices: int = 190_000, customers: int = 50_000, products: int = 10_000,
    items_per_invoice: int = 2, same_as: int = 50_000, seed: int = 7,
) -> Iterator[tuple[str, ...]]:
    rng = random.Random(seed)
    for n in range(invoices):
        invoice = f"INV-{n:07d}"
        yield ("invoice", invoice, "billed_to", "customer", str(rng.randrange(customers)),
               "derived", "ecommerce")
        for i in range(items_per_invoice):
            item = f"{invoice}/{i + 1}"
            yield ("invoice", invoice, "has_item", "invoice_item", item, "derived", "ecommerce")
            yield ("invoice_item", item, "references", "product",
                   f"SKU-{rng.randrange(products):05d}", "derived", "ecommerce")
    pairs: set[tuple[int, int]] = set()
    while len(pairs) < same_as:  # distinct pairs: the graph allows one active edge per pair
        pair = (rng.randrange(customers), rng.randrange(customers))
        if pair[0] != pair[1] and pair not in pairs:
            pairs.add(pair)
            yield ("customer", str(pair[0]), "same_as", "customer", str(pair[1]), "manual", "")


def load_graph(progress_every: int = 250_000, **shape: int) -> int:
    """COPY the generated edges into entity_relationships; returns how many were loaded."""
    count = 0
    with connection.cursor() as cursor:
        copy_sql = (f"COPY entity_relationships ({', '.join(COLUMNS)}) FROM STDIN")
        with cursor.cursor.copy(copy_sql) as copy:
            for edge in generate_edges(**shape):
                copy.write_row((*edge, "", "now", ""))
                count += 1
                if count % progress_every == 0:
                    print(f"  .. {count:,} relationships loaded", flush=True)
        # Constraint duplicates are impossible by construction except for same_as pairs.
        cursor.execute("ANALYZE entity_relationships")
    return count
