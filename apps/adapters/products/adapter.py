"""Products from a third-party product API: the `products` source.

Reading is described in data (`description.yaml`: API key, page pagination, by-SKU lookups,
conditional GETs, the mapping) and served by the declarative adapter; this module adds what
a description does not express: the stock reservations sagas use.

Connection settings: ``credentials["api_key"]`` (sent as `X-API-Key`); ``options``:
``change_batch_size`` (default 200), ``etag_cache_size`` (default 256),
``window_reuse_seconds`` (default 60), ``health_slow_ms``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from importlib.resources import files
from typing import Any
from urllib.parse import quote

import yaml

from apps.adapters.base import InsufficientStock, RequestRejected, Reservation
from apps.adapters.cursors import PositionCursor
from apps.adapters.declarative.adapter import DeclarativeAdapter
from apps.adapters.declarative.description import parse_description
from apps.adapters.record_reader import RecordReader

logger = logging.getLogger(__name__)

DESCRIPTION = parse_description(yaml.safe_load(
    files(__package__).joinpath("description.yaml").read_text(encoding="utf-8")))


class ProductsAdapter(DeclarativeAdapter):
    name = "products"
    description = DESCRIPTION
    # The form of the cursors stored before the adapter was described.
    change_cursor = PositionCursor("products-changes", key_field="sku", key_type=str)

    # -- stock reservations (for sagas) ----------------------------------------------------

    def reserve_stock(self, items: Mapping[str, int], idempotency_key: str, *,
                      timeout: float | None = None) -> str:
        """Reserve ``items`` (SKU -> units), all or nothing; the reservation's id.

        A retry with the same idempotency key returns the first reservation instead of
        reserving twice. Raises InsufficientStock (naming the SKUs) when stock is short,
        RequestRejected for unknown SKUs or a key reused with other items. ``timeout``:
        seconds to wait for the answer (see ``apps.adapters.base``).
        """
        body = {"items": [{"sku": sku, "quantity": units} for sku, units in items.items()],
                "idempotency_key": idempotency_key}
        try:
            answer = self.http.call("POST", "/v1/reservations", json_body=body, accept=(201,),
                                    timeout=timeout)
        except RequestRejected as exc:
            if exc.status == 409:
                shortages = exc.details.get("items")
                raise InsufficientStock(shortages if isinstance(shortages, list)
                                        else []) from exc
            raise
        reader = RecordReader(answer, entity_type="reservation", source=self.config.name,
                              id_field="reservation_id")
        reservation_id = reader.text("reservation_id")
        reader.check()
        return reservation_id

    def release_reservation(self, reservation_id: str, *,
                            timeout: float | None = None) -> None:
        """Put a reservation's units back. Idempotent: releasing a released or unknown
        reservation does nothing, so a saga's compensation can always run it."""
        try:
            self.http.send("DELETE", _reservation_path(reservation_id), timeout=timeout)
        except RequestRejected as exc:
            if exc.status != 404:
                raise
            logger.warning("reservation %s unknown to %s: nothing to release",
                           reservation_id, self.config.name)

    def get_reservation(self, reservation_id: str, *,
                        timeout: float | None = None) -> Reservation | None:
        """The reservation, or None when the source has no such reservation."""
        try:
            # Not through the ETag cache: a reservation's state is read to decide a write.
            answer = self.http.call("GET", _reservation_path(reservation_id), timeout=timeout)
        except RequestRejected as exc:
            if exc.status == 404:
                return None
            raise
        return _reservation(answer, self.config.name)

def _reservation_path(reservation_id: str) -> str:
    return f"/v1/reservations/{quote(reservation_id, safe='')}"


def _reservation(answer: Any, source: str) -> Reservation:
    """A reservation as the API serves it, or MalformedRecord naming the bad fields."""
    reader = RecordReader(answer, entity_type="reservation", source=source,
                          id_field="reservation_id")
    reservation_id, status = reader.text("reservation_id"), reader.text("status")
    items = {fields.text("sku"): fields.integer("quantity", minimum=1)
             for fields in reader.each("items")}
    key = answer.get("idempotency_key") if isinstance(answer, dict) else None
    reader.check()
    return Reservation(id=reservation_id, status=status, items=items,
                       idempotency_key=key if isinstance(key, str) else None)
