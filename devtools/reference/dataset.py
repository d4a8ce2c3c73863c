"""The reference data set: customers, products and invoices, the same for the same seed.

Each entity type draws from its own random stream (seeded with the seed and the type's name),
so the Directus server can build customers without building invoices, and the three servers
started from one seed agree: every invoice's `customer_id` is a customer's `id`, every item's
`sku` is a product's `sku`, and its `unit_price` is that product's price.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from devtools.reference.clock import format_ts

Record = dict[str, Any]
T = TypeVar("T")

# Seeded timestamps fall in 2024 (updates spill into early 2025), all before any time a
# running server stamps on a change.
EPOCH = datetime(2024, 1, 1, tzinfo=UTC)
_YEAR_MS = 365 * 24 * 3600 * 1000

_FIRST_NAMES = (
    "Ada", "Alan", "Amara", "Bruno", "Chen", "Dara", "Elif", "Farah", "Grace", "Hugo", "Ines",
    "Jonas", "Kofi", "Lena", "Mateo", "Nadia", "Omar", "Priya", "Quinn", "Rosa", "Sven", "Tariq",
    "Uma", "Viktor", "Wen", "Yara", "Zoe",
)
_LAST_NAMES = (
    "Almeida", "Berg", "Costa", "Dubois", "Eriksen", "Fischer", "Garcia", "Hoffmann", "Ito",
    "Jansen", "Kowalski", "Lopez", "Moreau", "Novak", "Okafor", "Petrov", "Rossi", "Schmidt",
    "Tanaka", "Umar", "Visser", "Weber", "Yilmaz", "Zhang",
)
_ADJECTIVES = (
    "Compact", "Deluxe", "Ergonomic", "Heavy-Duty", "Lightweight", "Modular", "Portable",
    "Premium", "Recycled", "Smart", "Solar", "Wireless",
)
_NOUNS = (
    "Backpack", "Blender", "Desk Lamp", "Drill", "Headphones", "Kettle", "Keyboard", "Monitor",
    "Notebook", "Router", "Speaker", "Thermos", "Toolkit", "Webcam",
)


@dataclass(frozen=True)
class Sizes:
    """How many records of each type a data set holds."""

    customers: int = 100
    products: int = 50
    invoices: int = 300

    def __post_init__(self) -> None:
        for name in ("customers", "products", "invoices"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
        if self.invoices and not (self.customers and self.products):
            raise ValueError("invoices need at least one customer and one product")

    def with_changes(self, **changes: int) -> Sizes:
        return replace(self, **changes)


def sku(number: int) -> str:
    return f"SKU-{number:05d}"


def invoice_id(number: int) -> str:
    return f"INV-{number:06d}"


def money(cents: int) -> str:
    """A decimal string with two places, the form every amount takes on the wire."""
    return str(Decimal(cents).scaleb(-2))


def _rng(seed: int, stream: str) -> random.Random:
    return random.Random(f"dictamesh:{seed}:{stream}")  # noqa: S311 - test data, not secrets


# The draws below use random() alone: randrange/choice/randint cost several times more, which
# shows on 10,000-record seeds that tests build again on every reset.
def _below(rng: random.Random, bound: int) -> int:
    return int(rng.random() * bound)


def _pick(rng: random.Random, options: Sequence[T]) -> T:
    return options[_below(rng, len(options))]


def _moment(rng: random.Random, after: datetime = EPOCH, span_ms: int = _YEAR_MS) -> datetime:
    return after + timedelta(milliseconds=_below(rng, span_ms))


def customers(seed: int, count: int) -> list[Record]:
    """Directus `customers` items; about a fifth were never updated (`date_updated` null)."""
    rng = _rng(seed, "customers")
    records = []
    for number in range(1, count + 1):
        first, last = _pick(rng, _FIRST_NAMES), _pick(rng, _LAST_NAMES)
        created = _moment(rng)
        updated = _moment(rng, created, span_ms=30 * 24 * 3600 * 1000)
        records.append({
            "id": number,
            "email": f"{first}.{last}.{number}@example.com".lower(),
            "name": f"{first} {last}",
            "status": "archived" if rng.random() < 0.15 else "active",
            "date_created": format_ts(created),
            "date_updated": format_ts(updated) if rng.random() < 0.8 else None,
        })
    return records


def products(seed: int, count: int) -> list[Record]:
    rng = _rng(seed, "products")
    return [
        {
            "sku": sku(number),
            "name": f"{_pick(rng, _ADJECTIVES)} {_pick(rng, _NOUNS)}",
            "price": {"amount": money(199 + _below(rng, 49_800)),
                      "currency": "USD" if rng.random() < 0.25 else "EUR"},
            "stock": _below(rng, 500),
            "updated_at": format_ts(_moment(rng)),
        }
        for number in range(1, count + 1)
    ]


def invoice_total(items: list[Record]) -> str:
    total = sum((Decimal(item["unit_price"]) * item["quantity"] for item in items), Decimal(0))
    return str(total.quantize(Decimal("0.01")))


def _invoice_status(draw: float) -> str:
    """Three in ten invoices open, six paid, one cancelled."""
    return "open" if draw < 0.3 else "paid" if draw < 0.9 else "cancelled"


def invoices(seed: int, sizes: Sizes) -> list[Record]:
    """Invoices whose items all share one currency, priced from `products(seed, ...)`."""
    by_currency: dict[str, list[tuple[str, str, int]]] = {}
    for product in products(seed, sizes.products):
        price = product["price"]
        by_currency.setdefault(price["currency"], []).append(
            (product["sku"], price["amount"], int(Decimal(price["amount"]) * 100)))
    currencies = sorted(by_currency)
    rng = _rng(seed, "invoices")
    records = []
    for number in range(1, sizes.invoices + 1):
        currency = _pick(rng, currencies)
        pool = by_currency[currency]
        chosen = {_pick(rng, pool) for _ in range(1 + _below(rng, 4))}
        items, total_cents = [], 0
        for product_sku, amount, cents in sorted(chosen):
            quantity = 1 + _below(rng, 5)
            items.append({"sku": product_sku, "quantity": quantity, "unit_price": amount})
            total_cents += quantity * cents
        created = _moment(rng)
        updated = _moment(rng, created, span_ms=14 * 24 * 3600 * 1000)
        records.append({
            "id": invoice_id(number),
            "invoice_number": f"F{created.year}-{number:06d}",
            "customer_id": 1 + _below(rng, sizes.customers),
            "items": items,
            "total": money(total_cents),
            "currency": currency,
            "status": _invoice_status(rng.random()),
            "created_at": format_ts(created),
            "updated_at": format_ts(updated),
        })
    return records
