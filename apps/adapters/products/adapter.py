"""Products from a third-party product API: the `products` source.

Connection settings: ``credentials["api_key"]`` (sent as `X-API-Key`); ``options``:
``change_batch_size`` (default 200), ``etag_cache_size`` (default 256),
``window_reuse_seconds`` (default 60), ``health_slow_ms``.
Every GET is conditional: the adapter keeps the last ETag and body per URL and reuses the
body on a 304, so an unchanged answer costs no body transfer.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

from apps.adapters.base import (
    CanonicalEntity,
    ChangeBatch,
    ChangeType,
    EntityPage,
    EntityQuery,
    InsufficientStock,
    InvalidQuery,
    MalformedRecord,
    RequestRejected,
    Reservation,
    ServiceLevel,
    SourceChange,
    SourceConfig,
)
from apps.adapters.cursors import PositionCursor, decode_cursor, encode_cursor
from apps.adapters.http_source import HttpSourceAdapter
from apps.adapters.products import mapping
from apps.adapters.products.client import DEFAULT_ETAG_CACHE_SIZE, ConditionalGets
from apps.adapters.record_reader import RecordReader

logger = logging.getLogger(__name__)

#: SKUs per batch lookup, the API's documented maximum
MAX_SKUS_PER_CALL = 100
#: the API's largest page
MAX_PER_PAGE = 250
#: seconds a change window read stays usable for resuming from one of its batch cursors
DEFAULT_WINDOW_REUSE_SECONDS = 60
_PAGE = "products-page"
_CHANGES = PositionCursor("products-changes", key_field="sku", key_type=str)


Placed = tuple[mapping.Position, Any]


@dataclass(frozen=True)
class _Window:
    """The changes one poll read, in change order, with each one's index by position."""

    ordered: list[Placed]
    index: dict[mapping.Position, int]
    read_at: float  # time.monotonic()


class ProductsAdapter(HttpSourceAdapter):
    name = "products"
    domain = "products"
    schema = mapping.SCHEMA
    ids_per_call = MAX_SKUS_PER_CALL

    def __init__(self, config: SourceConfig) -> None:
        super().__init__(config)
        self.gets = ConditionalGets(self.http, self.option_number("etag_cache_size",
                                                                  DEFAULT_ETAG_CACHE_SIZE))
        self.window_reuse_seconds = self.option_number("window_reuse_seconds",
                                                       DEFAULT_WINDOW_REUSE_SECONDS)
        self._window_kept: _Window | None = None

    def auth_headers(self) -> dict[str, str]:
        return {"X-API-Key": self.credential("api_key")}

    # -- reading ---------------------------------------------------------------------------

    def fetch_record(self, entity_id: str) -> Any:
        return self.gets.get(f"/v1/products/{quote(entity_id, safe='')}")

    def fetch_records(self, ids: Sequence[str]) -> list[Any]:
        return self._items(self.gets.get("/v1/products", {"skus": ",".join(ids)}))

    def record_position(self, record: Any) -> mapping.Position | None:
        return mapping.position(record)

    def to_entity(self, record: Any, record_id: str | None = None) -> CanonicalEntity:
        return mapping.to_product(record, self.config.name, record_id)

    def check_filters(self, filters: Mapping[str, Any]) -> None:
        if filters:
            raise InvalidQuery("The product API cannot filter products; query by ids (SKUs) "
                               "or page through all products without filters.")

    def query_page(self, query: EntityQuery) -> EntityPage:
        """Every product by SKU, page by page (the API's page numbers: a product added
        while paging shifts the later pages by one); the API has no filters."""
        if query.cursor:
            # The cursor keeps its page size: page numbers mean nothing under another one.
            at = decode_cursor(query.cursor, _PAGE)
            page, per_page = at.get("page"), at.get("per_page")
            if not (isinstance(page, int) and isinstance(per_page, int)):
                raise InvalidQuery(f"{query.cursor[:40]!r} is not a page cursor of this adapter.")
        else:
            page, per_page = 1, max(1, min(query.page_size, MAX_PER_PAGE))
        body = self.gets.get("/v1/products", {"page": page, "per_page": per_page})
        records, total_pages = self._items(body), body.get("total_pages")
        if not isinstance(total_pages, int):
            raise MalformedRecord("The product API answered a page without `total_pages`.")
        next_cursor = (encode_cursor(_PAGE, page=page + 1, per_page=per_page)
                       if page < total_pages else None)
        total = body.get("total")
        return self.map_listed(records, self.to_entity, next_cursor,
                               total if isinstance(total, int) else None)

    @staticmethod
    def _items(body: Any) -> list[Any]:
        items = body.get("items") if isinstance(body, dict) else None
        if not isinstance(items, list):
            raise MalformedRecord("The product API answered without an `items` list; is the "
                                  "base URL the product API?")
        return items

    # -- change detection ------------------------------------------------------------------

    def stream_changes(self, cursor: str | None) -> Iterator[ChangeBatch]:
        """Changes in (updated_at, sku) order; the cursor is the last pair delivered, and
        `updated_since` is inclusive, so products sharing a timestamp are neither skipped nor
        repeated.

        The API lists changed products by SKU, not by time, so a poll reads the whole window
        since the cursor before it can order it. The window is kept for a while: resuming
        from one of its batch cursors (a poller taking one batch per call) serves the next
        batch from it without a second read; a product changed meanwhile comes again, as
        its newer version, in a later window. The API cannot tell creations from updates:
        every change is UPDATED.
        """
        after = _CHANGES.decode(cursor)[0] if cursor else None
        ordered = self._kept_window_after(after)
        if ordered is None:
            ordered = self._read_window(after)
        if not ordered:
            yield ChangeBatch([], cursor, complete=True)
            return
        size = self.change_batch_size
        for start in range(0, len(ordered), size):
            batch = ordered[start:start + size]
            changes = [change for (at, _), record in batch
                       if (change := self._change(record, at)) is not None]
            last = batch[-1][0]
            yield ChangeBatch(changes, _CHANGES.encode(last),
                              complete=start + size >= len(ordered))

    def _kept_window_after(self, after: mapping.Position | None) -> list[Placed] | None:
        """The rest of the kept window after ``after``, if ``after`` is one of its
        positions, not its last (past its end only a new read can tell), and the window is
        recent enough; None otherwise."""
        window = self._window_kept  # one read: another thread may replace it
        if window is None or after is None or \
                time.monotonic() - window.read_at > self.window_reuse_seconds:
            return None
        index = window.index.get(after)
        if index is None or index + 1 == len(window.ordered):
            return None
        return window.ordered[index + 1:]

    def _read_window(self, after: mapping.Position | None) -> list[Placed]:
        # Keyed by position: a record served on two pages (a product added while paging
        # shifts the SKU order) is one change.
        placed: dict[mapping.Position, Any] = {}
        for record in self._window(after[0].isoformat() if after else None):
            where = self.change_position(record)
            if where is not None and (after is None or where > after):
                placed[where] = record
        ordered = sorted(placed.items(), key=lambda pair: pair[0])
        self._window_kept = _Window(ordered, {where: n for n, (where, _) in enumerate(ordered)},
                                    time.monotonic())
        return ordered

    def _window(self, since: str | None) -> Iterator[Any]:
        page = 1
        while True:
            params: dict[str, Any] = {"page": page, "per_page": MAX_PER_PAGE}
            if since is not None:
                params["updated_since"] = since
            body = self.gets.get("/v1/products", params)
            yield from self._items(body)
            total_pages = body.get("total_pages")
            if not isinstance(total_pages, int) or page >= total_pages:
                return
            page += 1

    def _change(self, record: Any, at: datetime) -> SourceChange | None:
        entity = self.map_or_report(record, self.to_entity)
        if entity is None:
            return None
        return SourceChange(ChangeType.UPDATED, mapping.ENTITY_TYPE, entity.id, entity, at)

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

    # -- what the platform knows about this source -----------------------------------------

    def get_sla(self) -> ServiceLevel:
        # No webhooks: freshness is the polling interval plus a window read.
        return ServiceLevel(freshness_seconds=300, availability=0.99, latency_p99_ms=800)

    def health_request(self) -> tuple[str, Mapping[str, Any]]:
        return "/v1/products", {"per_page": 1}

    def health_sample(self, body: Any) -> list[Any]:
        return self._items(body)


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
