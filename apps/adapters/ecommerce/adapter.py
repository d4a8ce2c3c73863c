"""Invoices from an e-commerce platform's invoice API, and the invoice actions sagas need.

Connection settings: ``credentials["token"]`` (a bearer token); ``options``:
``change_batch_size`` (default 200), ``health_slow_ms``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import quote

from apps.adapters.base import (
    CanonicalEntity,
    ChangeBatch,
    ChangeType,
    Charge,
    EntityPage,
    EntityQuery,
    InvalidQuery,
    MalformedRecord,
    PaymentDeclined,
    Refund,
    RequestRejected,
    ServiceLevel,
    SourceChange,
)
from apps.adapters.cursors import PositionCursor, decode_cursor, encode_cursor
from apps.adapters.ecommerce import mapping
from apps.adapters.http_source import HttpSourceAdapter, chunks, unique
from apps.adapters.record_reader import RecordReader

INVOICES = "/api/v1/invoices"
#: invoice ids per batch lookup, the API's documented maximum
MAX_IDS_PER_CALL = 100
#: the API's largest page
MAX_LIMIT = 250
#: canonical filters -> the list's query parameters (Stripe's names, see
#: devtools/reference/ecommerce.py)
FILTER_PARAMS = {"status": "status", "created_at__gt": "created[gt]"}
_PAGE = "ecommerce-page"
_CHANGES = PositionCursor("ecommerce-changes", key_field="id", key_type=str)


class EcommerceAdapter(HttpSourceAdapter):
    name = "ecommerce"
    domain = "invoices"
    schema = mapping.SCHEMA
    ids_per_call = MAX_IDS_PER_CALL
    max_page_size = MAX_LIMIT
    #: pages list_all reads per hundred customers of a customer_id list (5000 invoices a
    #: customer, on average)
    max_listing_pages = 20

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.credential('token')}"}

    # -- reading ---------------------------------------------------------------------------

    def fetch_record(self, entity_id: str) -> Any:
        return _data(self.http.get_json(f"{INVOICES}/{quote(entity_id, safe='')}"))

    def fetch_records(self, ids: Sequence[str]) -> list[Any]:
        return _data_list(self.http.get_json(INVOICES, {"ids": ",".join(ids)}))

    def record_position(self, record: Any) -> mapping.Position | None:
        return mapping.position(record)

    def to_entity(self, record: Any, record_id: str | None = None) -> CanonicalEntity:
        return mapping.to_invoice(record, self.config.name, record_id)

    def check_filters(self, filters: Mapping[str, Any]) -> None:
        unknown = sorted(set(filters) - {"customer_id", *FILTER_PARAMS})
        if unknown:
            raise InvalidQuery(f"Invoices cannot be filtered by {', '.join(unknown)}; the API "
                               f"filters by customer_id, {', '.join(FILTER_PARAMS)}.")

    def query_page(self, query: EntityQuery) -> EntityPage:
        """Filtered by ``customer_id`` (one id or a list of them), or not at all: the API's
        cursor pages in (updated_at, id) order, so an invoice changed while paging comes
        again on a later page, as its new version. A list of customer ids is asked 100 at
        a time (the API's `customer_ids` maximum); the pages run through each hundred in
        turn, so a long list is still paged with one cursor."""
        params: dict[str, Any] = {"limit": max(1, min(query.page_size, MAX_LIMIT))}
        params.update({FILTER_PARAMS[name]: value for name, value in query.filters.items()
                       if name in FILTER_PARAMS})
        source_cursor, chunk = self._page_position(query.cursor)
        groups: list[list[str]] = []
        wanted = query.filters.get("customer_id")
        if isinstance(wanted, list | tuple | set | frozenset):
            groups = _customer_groups(wanted)
            if chunk >= len(groups):
                if chunk or query.cursor:
                    raise InvalidQuery("The cursor does not belong to this customer_id list.")
                return EntityPage([], None, 0)  # no customers: nothing to ask the API
            params["customer_ids"] = ",".join(groups[chunk])
        elif wanted is not None:
            params["customer_id"] = wanted
        if not groups:  # a count of one hundred of a customer_id list would mislead
            params["include[]"] = "total_count"
        if source_cursor is not None:
            params["cursor"] = source_cursor
        body = self.http.get_json(INVOICES, params)
        records = _data_list(body)
        next_page = body.get("next_cursor")
        next_cursor = None
        if next_page:
            next_cursor = encode_cursor(_PAGE, source=next_page, chunk=chunk)
        elif chunk + 1 < len(groups):  # this hundred is done: the next one starts afresh
            next_cursor = encode_cursor(_PAGE, source=None, chunk=chunk + 1)
        total = body.get("total_count")
        return self.map_listed(records, self.to_entity, next_cursor,
                               total if isinstance(total, int) else None)

    def list_all(self, entity_type: str, filters: Mapping[str, Any]) -> EntityPage:
        """As the contract says; a ``customer_id`` list may hold ids the API cannot have
        (its customer ids are integers): they have no invoices, instead of failing the
        whole listing as they would a query."""
        wanted = filters.get("customer_id")
        if isinstance(wanted, list | tuple | set | frozenset):
            asked = [str(key) for key in wanted if str(key).isdigit()]
            if not asked:
                return EntityPage([], None, 0)
            filters = {**filters, "customer_id": asked}
        return super().list_all(entity_type, filters)

    def listing_pages(self, filters: Mapping[str, Any]) -> int:
        wanted = filters.get("customer_id")
        hundreds = len(_customer_groups(wanted)) if isinstance(wanted, list) else 1
        return self.max_listing_pages * max(1, hundreds)

    @staticmethod
    def _page_position(cursor: str | None) -> tuple[str | None, int]:
        """(the API's cursor, which hundred of a customer_id list) a page cursor holds."""
        if not cursor:
            return None, 0
        # Ours wraps the API's cursor, so a cursor of another kind fails clearly here.
        values = decode_cursor(cursor, _PAGE)
        source_cursor, chunk = values.get("source"), values.get("chunk", 0)
        if not isinstance(source_cursor, str | None) or isinstance(chunk, bool) \
                or not isinstance(chunk, int) or chunk < 0 \
                or (source_cursor is None and "chunk" not in values):
            raise InvalidQuery(f"{cursor[:40]!r} is not a page cursor of this adapter.")
        return source_cursor, chunk

    # -- change detection ------------------------------------------------------------------

    def stream_changes(self, cursor: str | None) -> Iterator[ChangeBatch]:
        """Changes in the API's (updated_at, id) order, one batch per page.

        The cursor holds the last (updated_at, id) delivered and the API's own cursor for
        the next page, when there is one: resuming from it neither repeats nor skips
        invoices that share a timestamp. Without it (the last page, or a cursor the API no
        longer accepts) `updated_since` (inclusive) plus the position does the same. An
        invoice changed while paging comes again at the end as its new version: a new
        change, not a repeat. The API cannot tell creations from updates: every change is
        UPDATED.
        """
        after, source_cursor = _decode_changes(cursor) if cursor else (None, None)
        params: dict[str, Any] = {"limit": min(self.change_batch_size, MAX_LIMIT)}
        if after is not None:
            params["updated_since"] = after[0].isoformat()
        if source_cursor is not None:
            params["cursor"] = source_cursor
        while True:
            body = self._changes_page(params)
            changes = []
            for record in _data_list(body):
                where = self.change_position(record)
                if where is None:
                    continue
                if after is not None and where <= after:
                    continue  # the inclusive boundary, or served again: delivered already
                after = where
                entity = self.map_or_report(record, self.to_entity)
                if entity is not None:
                    changes.append(SourceChange(ChangeType.UPDATED, mapping.ENTITY_TYPE,
                                                entity.id, entity, occurred_at=where[0]))
            next_page = body.get("next_cursor")
            source_cursor = next_page if isinstance(next_page, str) and next_page else None
            yield ChangeBatch(changes, _encode_changes(after, source_cursor),
                              complete=source_cursor is None)
            if source_cursor is None:
                return
            params["cursor"] = source_cursor

    def _changes_page(self, params: dict[str, Any]) -> Any:
        try:
            return self.http.get_json(INVOICES, params)
        except RequestRejected as exc:
            if exc.status != 400 or "cursor" not in params:
                raise
            # The API no longer accepts its stored cursor (expired, say): the position
            # alone resumes, re-reading at most the invoices that share its timestamp.
            del params["cursor"]
            return self.http.get_json(INVOICES, params)

    # -- invoice actions (for sagas) -------------------------------------------------------

    def create_invoice(self, customer_id: str, items: Sequence[Mapping[str, Any]],
                       idempotency_key: str, *,
                       timeout: float | None = None) -> CanonicalEntity:
        """Create an open invoice for ``items`` ([{"sku", "quantity", "unit_price"?}]; an
        item without a unit price is priced from the catalog). A retry with the same
        idempotency key returns the first invoice instead of creating another."""
        if not customer_id.isdigit():
            raise InvalidQuery(f"customer_id {customer_id!r} is not a customer id (an integer).")
        body = {"customer_id": int(customer_id), "items": [dict(item) for item in items]}
        return self._answered_invoice(self.http.call(
            "POST", INVOICES, json_body=body, accept=(201,),
            headers={"Idempotency-Key": idempotency_key}, timeout=timeout))

    def cancel_invoice(self, invoice_id: str, *,
                       timeout: float | None = None) -> CanonicalEntity:
        """Cancel an open or refunded invoice; cancelling a cancelled one again is fine, so
        a compensation can always run it again. A paid invoice must be refunded first:
        RequestRejected with status 409 and code "invalid_state"."""
        return self._answered_invoice(
            self.http.call("POST", _invoice_path(invoice_id, "cancel"), timeout=timeout))

    def charge_invoice(self, invoice_id: str, idempotency_key: str, *,
                       timeout: float | None = None) -> Charge:
        """Charge an open invoice. A retry with the same idempotency key replays the first
        success; a declined card raises PaymentDeclined (the invoice stays open)."""
        try:
            body = self.http.call("POST", _invoice_path(invoice_id, "charge"), timeout=timeout,
                                  headers={"Idempotency-Key": idempotency_key})
        except RequestRejected as exc:
            if exc.status == 402:
                raise PaymentDeclined(invoice_id, exc) from exc
            raise
        payment = self._answered_part(body, "payment")
        payment_id = payment.text("id")
        payment.check()
        return Charge(invoice=self._answered_invoice(body), payment_id=payment_id)

    def refund_charge(self, invoice_id: str, idempotency_key: str, *,
                      timeout: float | None = None) -> Refund:
        """Refund the whole charge of a paid invoice, which becomes "refunded" (and can then
        be cancelled). A retry with the same idempotency key replays the first success; an
        invoice that is not paid: RequestRejected with status 409 and code
        "invalid_state"."""
        body = self.http.call("POST", _invoice_path(invoice_id, "refund"), timeout=timeout,
                              headers={"Idempotency-Key": idempotency_key})
        refund = self._answered_part(body, "refund")
        refund_id = refund.text("id")
        payment_id = refund.optional_text("payment_id")
        refund.check()
        return Refund(invoice=self._answered_invoice(body), refund_id=refund_id,
                      payment_id=payment_id)

    def _answered_part(self, body: Any, part: str) -> RecordReader:
        """A reader of the payment or refund record an action answered with."""
        return RecordReader(body.get(part) if isinstance(body, dict) else None,
                            entity_type=part, source=self.config.name, id_field="id")

    def _answered_invoice(self, body: Any) -> CanonicalEntity:
        """The invoice an action answered with; malformed raises, as for get_entity."""
        return mapping.to_invoice(_data(body), self.config.name)

    # -- what the platform knows about this source -----------------------------------------

    def get_sla(self) -> ServiceLevel:
        return ServiceLevel(freshness_seconds=60, availability=0.995, latency_p99_ms=800)

    def health_request(self) -> tuple[str, Mapping[str, Any]]:
        return INVOICES, {"limit": 1}

    def health_sample(self, body: Any) -> list[Any]:
        return _data_list(body)


def _invoice_path(invoice_id: str, action: str) -> str:
    return f"{INVOICES}/{quote(invoice_id, safe='')}/{action}"


def _customer_groups(customer_ids: Any) -> list[list[str]]:
    """A customer_id list as the API's batches: integers only (the API's customer ids),
    without repeats, at most MAX_IDS_PER_CALL per call."""
    ids = [str(key) for key in customer_ids]
    bad = [key for key in ids if not key.isdigit()]
    if bad:
        raise InvalidQuery(f"customer_id values must be integers; got {', '.join(bad[:5])}.")
    return [list(batch) for batch in chunks(unique(ids), MAX_IDS_PER_CALL)]


def _data(body: Any) -> Any:
    if not isinstance(body, dict) or "data" not in body:
        raise MalformedRecord("The invoice API answered without `data`; is the base URL the "
                              "invoice API?")
    return body["data"]


def _data_list(body: Any) -> list[Any]:
    data = _data(body)
    if not isinstance(data, list):
        raise MalformedRecord("The invoice API answered a list request without a `data` list.")
    return data


def _encode_changes(after: mapping.Position | None, source_cursor: str | None) -> str | None:
    if after is None and source_cursor is None:
        return None
    return _CHANGES.encode(after, source=source_cursor)


def _decode_changes(cursor: str) -> tuple[mapping.Position | None, str | None]:
    after, extra = _CHANGES.decode(cursor, optional=True)
    source = extra.get("source")
    if not isinstance(source, str | None):
        raise InvalidQuery(f"{cursor[:40]!r} is not a change cursor of this adapter.")
    return after, source
